//! The envelope decoder (`switchboard::model::decode`) on arbitrary bytes, as every
//! bus consumer meets them: it must return an error or an envelope, never panic or
//! allocate without bound; and an envelope it accepts must survive the codec: encoded
//! again and decoded, it is the same envelope.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::model::{CodecError, decode, encode};

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = decode(data) else {
        return;
    };
    let bytes = match encode(&envelope) {
        Ok(bytes) => bytes,
        // Named encoding can outgrow a positional input near the size cap.
        Err(CodecError::TooLarge { .. }) => return,
        Err(e) => panic!("a decoded envelope does not encode: {e}"),
    };
    let again =
        decode(&bytes).unwrap_or_else(|e| panic!("an encoded envelope does not decode: {e}"));
    assert_eq!(again, envelope, "the codec changed the envelope");
});
