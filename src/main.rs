//! The `packwitness` binary: parse, call the library, print (see `cmd`).

mod cmd;

fn main() -> std::process::ExitCode {
    cmd::main()
}
