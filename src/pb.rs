//! The generated gRPC types of `proto/saring/v1`, included once, and the codec their services use.
//!
//! Every saring.v1 service and client is generated with [`codec::ProtoCodec`] (`build.rs` names it), so
//! a request body that is not valid protobuf is answered INVALID_ARGUMENT instead of tonic-prost's
//! INTERNAL.

pub mod codec;

#[allow(missing_docs, unreachable_pub, clippy::all)]
mod generated {
    tonic::include_proto!("saring.v1");
}

pub use generated::*;

/// The encoded descriptor set of the API, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("saring_descriptor");
