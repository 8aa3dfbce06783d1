//! The `depositary` binary: see the library's documentation and `depositary --help`.

fn main() -> std::process::ExitCode {
    depositary::main()
}
