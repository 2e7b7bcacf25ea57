//! Bounds-checked big-endian field access shared by every wire view.
//!
//! Reads outside the buffer return zero and writes outside it are ignored,
//! so no accessor can panic, whatever the buffer holds. The views check
//! lengths once (`new_checked`) so that, after it, these paths never fire.

/// The `N` bytes at `off`, if the buffer holds them.
pub(crate) fn array<const N: usize>(buf: &[u8], off: usize) -> Option<[u8; N]> {
    buf.get(off..)
        .and_then(|s| s.get(..N))
        .and_then(|s| <[u8; N]>::try_from(s).ok())
}

/// The byte at `off`, or 0.
pub(crate) fn u8_at(buf: &[u8], off: usize) -> u8 {
    buf.get(off).copied().unwrap_or(0)
}

/// The big-endian `u16` at `off`, or 0.
pub(crate) fn u16_at(buf: &[u8], off: usize) -> u16 {
    array(buf, off).map_or(0, u16::from_be_bytes)
}

/// The big-endian `u32` at `off`, or 0.
pub(crate) fn u32_at(buf: &[u8], off: usize) -> u32 {
    array(buf, off).map_or(0, u32::from_be_bytes)
}

/// The `N` bytes at `off`, or zeros.
pub(crate) fn array_or_zero<const N: usize>(buf: &[u8], off: usize) -> [u8; N] {
    array(buf, off).unwrap_or([0; N])
}

/// The bytes from `start` to `end` (clamped to the buffer), or empty.
pub(crate) fn range(buf: &[u8], start: usize, end: usize) -> &[u8] {
    let end = end.min(buf.len());
    buf.get(start..end).unwrap_or(&[])
}

/// Mutable bytes from `start` to `end` (clamped to the buffer), or empty.
pub(crate) fn range_mut(buf: &mut [u8], start: usize, end: usize) -> &mut [u8] {
    let end = end.min(buf.len());
    buf.get_mut(start..end).unwrap_or(&mut [])
}

/// Writes `value` at `off` if it fits.
pub(crate) fn set_bytes(buf: &mut [u8], off: usize, value: &[u8]) {
    if let Some(dst) = buf.get_mut(off..).and_then(|s| s.get_mut(..value.len())) {
        dst.copy_from_slice(value);
    }
}

/// Writes the byte at `off` if it fits.
pub(crate) fn set_u8(buf: &mut [u8], off: usize, value: u8) {
    if let Some(b) = buf.get_mut(off) {
        *b = value;
    }
}

/// Writes a big-endian `u16` at `off` if it fits.
pub(crate) fn set_u16(buf: &mut [u8], off: usize, value: u16) {
    set_bytes(buf, off, &value.to_be_bytes());
}

/// Writes a big-endian `u32` at `off` if it fits.
pub(crate) fn set_u32(buf: &mut [u8], off: usize, value: u32) {
    set_bytes(buf, off, &value.to_be_bytes());
}
