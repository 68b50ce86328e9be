//! `harness`: run a Maelstrom lin-kv test against a node binary, or re-check a history.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(harness::runner::main(&args));
}
