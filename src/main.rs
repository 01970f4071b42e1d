fn main() -> std::process::ExitCode {
    packwitness::cli::main()
}
