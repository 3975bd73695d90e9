//! `compress=zstd-stream` transport compression: one zstd stream per connection,
//! flushed after every message, each message sent as one binary frame (what Discord
//! does and what twilight-gateway decodes).

use std::io::Write;

/// The compressor of one connection.
pub(crate) struct ZstdStream {
    encoder: zstd::stream::write::Encoder<'static, Vec<u8>>,
}

impl std::fmt::Debug for ZstdStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZstdStream").finish_non_exhaustive()
    }
}

impl ZstdStream {
    /// A new stream.
    pub(crate) fn new() -> std::io::Result<Self> {
        Ok(Self {
            encoder: zstd::stream::write::Encoder::new(Vec::new(), 3)?,
        })
    }

    /// Compresses one message and flushes the stream, returning the bytes of its frame.
    pub(crate) fn compress(&mut self, message: &[u8]) -> std::io::Result<Vec<u8>> {
        self.encoder.write_all(message)?;
        self.encoder.flush()?;
        Ok(std::mem::take(self.encoder.get_mut()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};

    #[test]
    fn each_frame_decodes_on_one_stream() {
        let mut enc = ZstdStream::new().expect("encoder");
        let mut dec = Decoder::new().expect("decoder");
        for msg in [&b"{\"op\":10}"[..], b"{\"op\":11}", &[b'x'; 5000][..]] {
            let frame = enc.compress(msg).expect("compress");
            let mut out = vec![0u8; 16 * 1024];
            let mut input = InBuffer::around(&frame);
            let mut output = OutBuffer::around(&mut out[..]);
            while input.pos() < frame.len() {
                dec.run(&mut input, &mut output).expect("decompress");
            }
            let n = output.pos();
            assert_eq!(&out[..n], msg);
        }
    }
}
