//! Fuzzes the pcap reader (`dpu-fw simulate --pcap`): any bytes, read to the end. Nothing
//! may panic; no record is larger than MAX_CAPLEN; the records and the error's offset
//! stay inside the input; every packet's frame goes through the packet parser.
#![no_main]

use doca_flow::packet::Headers;
use dpu_fw::pcap::{FILE_HEADER_LEN, MAX_CAPLEN, PcapError, PcapReader, RECORD_HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = PcapReader::new(data) else {
        return;
    };
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
});
