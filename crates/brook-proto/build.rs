//! Generates the gRPC code from `proto/brook.proto`. protox parses the .proto in pure Rust, so no
//! system `protoc` is needed; every `bytes` field becomes a `bytes::Bytes` so record batches travel
//! from socket to log without a copy into a `Vec`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = "../../proto";
    let file = format!("{proto_dir}/brook.proto");
    println!("cargo:rerun-if-changed={file}");
    let fds = protox::compile([file.as_str()], [proto_dir])?;
    tonic_prost_build::configure().bytes(".").compile_fds(fds)?;
    Ok(())
}
