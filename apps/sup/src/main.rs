//! The `sup` command: see the library for what it does.

fn main() -> std::process::ExitCode {
    sup::main()
}
