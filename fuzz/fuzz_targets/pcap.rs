//! Fuzzes the capture reader (`dpu-fw simulate --pcap`): any bytes, read to the end, as
//! classic pcap or pcapng (the reader tells them apart by the first four bytes; the seeds
//! hold both, pcapng in both byte orders). Nothing may panic; no record is larger than
//! MAX_CAPLEN; the records and the error's offset stay inside the input; every packet's
//! frame goes through the packet parser.
#![no_main]

use doca_flow::packet::Headers;
use dpu_fw::pcap::{FILE_HEADER_LEN, Format, MAX_CAPLEN, PcapError, PcapReader, RECORD_HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let reader = match PcapReader::new(data) {
        Ok(r) => r,
        Err(PcapError::Pcapng { offset, .. }) => {
            assert_eq!(offset, 0, "a section header error is at the start");
            return;
        }
        Err(_) => return,
    };
    match reader.header().format {
        Format::Pcap => classic(data, reader),
        Format::Pcapng => pcapng(data, reader),
    }
});

fn classic(data: &[u8], reader: PcapReader<&[u8]>) {
    let mut used = FILE_HEADER_LEN;
    for item in reader {
        match item {
            Ok(p) => {
                assert!(p.data.len() <= MAX_CAPLEN as usize);
                used += RECORD_HEADER_LEN + p.data.len();
                assert!(used <= data.len());
                let _ = Headers::parse(&p.data);
            }
            Err(
                PcapError::TruncatedRecordHeader { offset, .. }
                | PcapError::TruncatedRecord { offset, .. }
                | PcapError::CaplenTooLarge { offset, .. },
            ) => assert_eq!(offset as usize, used, "the error names the record's offset"),
            Err(e) => panic!("unexpected error reading from memory: {e}"),
        }
    }
}

fn pcapng(data: &[u8], reader: PcapReader<&[u8]>) {
    let mut bytes = 0;
    for item in reader {
        match item {
            Ok(p) => {
                assert!(p.data.len() <= MAX_CAPLEN as usize);
                // Each packet's block holds its data and at least 16 bytes more.
                bytes += p.data.len() + 16;
                assert!(bytes <= data.len());
                let _ = Headers::parse(&p.data);
            }
            Err(PcapError::Pcapng { offset, .. }) => {
                assert!(
                    (offset as usize) < data.len(),
                    "the error names a block in the input"
                )
            }
            Err(e) => panic!("unexpected error reading from memory: {e}"),
        }
    }
}
