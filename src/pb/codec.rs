//! The protobuf codec of every saring.v1 service: tonic-prost's, except for what a body that does not
//! decode is answered with.
//!
//! tonic-prost maps every decode failure — invalid UTF-8 in a string field, a truncated message,
//! garbage bytes, a wrong wire type — to INTERNAL, which tells a client the server is broken and that
//! a retry may help. It is the client's mistake and a retry never helps, so here it is
//! INVALID_ARGUMENT, saying the request could not be decoded and why (the decoder names the message
//! and field, never their contents).
//!
//! This is the wire layer, below the services and `grpc/status.rs`: the failure happens before any
//! service code runs, so it is the one status made outside `grpc/`. The generated clients share the
//! codec, so to them a reply that does not decode reads INVALID_ARGUMENT as well; saring's server
//! never sends one.

use std::marker::PhantomData;
use std::sync::Arc;

use prost::Message;
use tonic::codec::{BufferSettings, DecodeBuf};
use tonic_prost::{ProstCodec, ProstEncoder};

/// A [`tonic::codec::Codec`] encoding `T` and decoding `U` with prost.
#[derive(Debug, Clone)]
pub struct ProtoCodec<T, U> {
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for ProtoCodec<T, U> {
    fn default() -> Self {
        ProtoCodec {
            _types: PhantomData,
        }
    }
}

impl<T, U> tonic::codec::Codec for ProtoCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProtoDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        // Encoding cannot fail on a message we built; tonic-prost's encoder is kept as it is.
        ProstCodec::<T, U>::raw_encoder(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProtoDecoder { _type: PhantomData }
    }
}

/// Decodes `U`; a body that is not a valid `U` is INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct ProtoDecoder<U> {
    _type: PhantomData<U>,
}

impl<U: Message + Default> tonic::codec::Decoder for ProtoDecoder<U> {
    type Item = U;
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Self::Error> {
        U::decode(buf).map(Some).map_err(undecodable)
    }
}

/// The status of a body that does not decode, with the decoder's error kept as its source.
fn undecodable(error: prost::DecodeError) -> tonic::Status {
    let mut status =
        tonic::Status::invalid_argument(format!("the request could not be decoded: {error}"));
    status.set_source(Arc::new(error));
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decode_failure_is_invalid_argument_saying_so() {
        let error = crate::pb::CheckCommentRequest::decode(&[0x0a, 0x05, b'a'][..]).unwrap_err();
        let status = undecodable(error);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status
            .message()
            .starts_with("the request could not be decoded"));
        assert!(std::error::Error::source(&status).is_some());
    }
}
