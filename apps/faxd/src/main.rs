//! The `faxd` node binary: see `faxd::cli`.

/// The node's allocator: SMTP sessions allocate and free a message-sized buffer for every mail, across threads,
/// which glibc's allocator does at several times the cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    faxd::cli::main()
}
