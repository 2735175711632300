//! Signature decoding on arbitrary bytes: an error or a signature that re-encodes to
//! the same bytes and can be indexed and diffed against.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sy_delta::{DeltaWriter, Signature, diff};

fuzz_target!(|data: &[u8]| {
    let decoded = Signature::from_bytes(data);
    let streamed = Signature::read_from(&mut &data[..], 1 << 16);
    if let Ok(sig) = decoded {
        assert_eq!(sig.to_bytes(), data);
        assert_eq!(streamed.as_ref().ok(), Some(&sig));
        let mut writer = DeltaWriter::new(Vec::new());
        let stats = diff(&sig.index(), data, &mut writer).expect("diff into memory cannot fail");
        assert_eq!(stats.literal_bytes + stats.copied_bytes, data.len() as u64);
    }
});
