//! The generated gRPC types of `proto/saring/v1`, included once.
#![allow(missing_docs, unreachable_pub, clippy::all)]

tonic::include_proto!("saring.v1");

/// The encoded descriptor set of the API, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("saring_descriptor");
