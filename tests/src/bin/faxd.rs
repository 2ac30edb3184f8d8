//! The faxd node, built into the test package so tests run the current code.

fn main() -> std::process::ExitCode {
    faxd::cli::main()
}
