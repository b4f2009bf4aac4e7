//! Compiles the vfed protos with tonic-prost-build and exports the file
//! descriptor set for gRPC reflection.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let protos = [
        "vfed/registry/v1/registry.proto",
        "vfed/registry/v1/removal.proto",
        "vfed/federation/v1/federation.proto",
        "vfed/relay/v1/relay.proto",
        "vfed/auth/v1/auth.proto",
        "vfed/sharing/v1/sharing.proto",
        "vfed/audit/v1/audit.proto",
        "vfed/retrieval/v1/retrieval.proto",
        "vfed/archive/v1/archive.proto",
        "vfed/archive/v1/evidence.proto",
        "vfed/violations/v1/violations.proto",
        "vfed/gb28181/v1/gb28181.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    tonic_prost_build::configure()
        // Undecodable requests are INVALID_ARGUMENT, not INTERNAL (see src/codec.rs).
        .codec_path("crate::codec::WireCodec")
        .file_descriptor_set_path(out_dir.join("vfed_descriptor.bin"))
        .compile_protos(&protos, &["."])?;
    Ok(())
}
