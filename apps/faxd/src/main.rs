//! The `faxd` node binary: see `faxd::cli`.

fn main() -> std::process::ExitCode {
    faxd::cli::main()
}
