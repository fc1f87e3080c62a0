//! Code generation only: compiles `proto/saring/v1/*.proto` with tonic-prost-build, using the protoc
//! shipped in the `protoc-bin-vendored` crate so a fresh machine needs nothing but cargo, and writes the
//! descriptor set that server reflection serves.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()
        .expect("protoc-bin-vendored ships protoc for this platform");
    // SAFETY of intent: build scripts are single-threaded; prost-build reads PROTOC from the environment.
    std::env::set_var("PROTOC", protoc);
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        // Our codec answers a body that does not decode with INVALID_ARGUMENT (src/pb/codec.rs).
        .codec_path("crate::pb::codec::ProtoCodec")
        .file_descriptor_set_path(out.join("saring_descriptor.bin"))
        .compile_protos(&["proto/saring/v1/moderation.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
