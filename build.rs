//! Code generation only. The gRPC service (the next milestone) compiles `proto/saring/v1/*.proto` here
//! with tonic-prost-build and a vendored protoc; until then this only tells cargo what to watch, so the
//! model and CLI build without a protobuf toolchain.

fn main() {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=build.rs");
}
