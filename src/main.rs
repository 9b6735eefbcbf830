fn main() -> std::process::ExitCode {
    sipprov::cli::run()
}
