//! The protobuf codec with two changes: request bytes that do not decode
//! are the caller's fault (INVALID_ARGUMENT), where tonic alone says
//! INTERNAL; and the messages a call streams by the many are encoded into
//! buffers sized for streams (`stream_buffers`).

use std::any::TypeId;
use std::marker::PhantomData;

use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::{Code, Status};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// Which message types a service streams by the many (`S` of
/// [`CheckedCodec`]).
pub(crate) trait Streamed {
    /// Whether messages of this type are sent many to a call.
    fn streams(message: TypeId) -> bool;
}

/// The API's: a StreamEvents catch-up's responses, a bulk import's requests.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ApiStreams;

impl Streamed for ApiStreams {
    fn streams(message: TypeId) -> bool {
        message == TypeId::of::<super::pb::StreamEventsResponse>()
            || message == TypeId::of::<super::pb::ImportCommitsRequest>()
    }
}

/// The API's codec (build.rs names it).
pub(crate) type ApiCodec<T, U> = CheckedCodec<T, U, ApiStreams>;

/// `ProstCodec` whose decoder reports undecodable bytes as INVALID_ARGUMENT
/// and whose encoder gives the message types `S` streams `stream_buffers`.
#[derive(Debug, Clone)]
pub(crate) struct CheckedCodec<T, U, S>(ProstCodec<T, U>, PhantomData<fn() -> S>);

impl<T, U, S> Default for CheckedCodec<T, U, S> {
    fn default() -> Self {
        Self(ProstCodec::default(), PhantomData)
    }
}

impl<T, U, S> Codec for CheckedCodec<T, U, S>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
    S: Streamed + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = CheckedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(buffers_for::<T, S>())
    }

    fn decoder(&mut self) -> Self::Decoder {
        CheckedDecoder(self.0.decoder())
    }
}

/// The buffers a stream of many messages is encoded into: 64 KiB, handed
/// to HTTP/2 about every 12 KiB (tonic's defaults: 8 KiB, every 32 KiB).
///
/// tonic encodes a stream's messages one after another into one buffer
/// and hands what it holds on once it passes the threshold; the part
/// handed on shares the allocation until it is written. With the
/// defaults, every chunk outgrew its buffer (8, 16, 32 and 64 KiB, each
/// growth a copy of what was there: about a tenth of a catch-up's
/// instructions, under callgrind). A buffer several thresholds long
/// holds a few chunks before one copy of part of a chunk, and a chunk a
/// little under HTTP/2's 16 KiB frame goes out as one frame. Single
/// messages keep tonic's defaults: a 64 KiB buffer a call would be mostly
/// unused. The benchmark's bare stream uses this codec too, so that it
/// differs from a catch-up in what it sends alone.
fn stream_buffers() -> BufferSettings {
    BufferSettings::new(64 << 10, 12 << 10)
}

fn buffers_for<T: 'static, S: Streamed>() -> BufferSettings {
    if S::streams(TypeId::of::<T>()) {
        stream_buffers()
    } else {
        BufferSettings::default()
    }
}

#[derive(Debug)]
pub(crate) struct CheckedDecoder<U>(ProstDecoder<U>);

impl<U: prost::Message + Default> Decoder for CheckedDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|status| {
            if status.code() == Code::Internal {
                Status::invalid_argument(format!(
                    "the message does not decode as protobuf: {}",
                    status.message()
                ))
            } else {
                status
            }
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}

#[cfg(test)]
mod tests {
    use super::super::pb;
    use super::*;

    #[test]
    fn streams_get_the_stream_buffers_and_single_messages_tonics() {
        let settings = |s: BufferSettings| format!("{s:?}");
        let stream = settings(stream_buffers());
        for streamed in [
            buffers_for::<pb::StreamEventsResponse, ApiStreams>(),
            buffers_for::<pb::ImportCommitsRequest, ApiStreams>(),
        ] {
            assert_eq!(settings(streamed), stream);
        }
        for single in [
            buffers_for::<pb::GetAnswerResponse, ApiStreams>(),
            buffers_for::<pb::EditSectionRequest, ApiStreams>(),
        ] {
            assert_eq!(settings(single), settings(BufferSettings::default()));
        }
        assert_ne!(stream, settings(BufferSettings::default()));
    }
}
