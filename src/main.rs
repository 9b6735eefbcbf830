//! The `sipprov` binary. mimalloc rather than glibc's allocator: freed
//! memory goes back for reuse across threads instead of staying in one arena
//! per thread, so memory follows the render cache's budget, not the load
//! (bench/memory.sh).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sipprov::cli::run()
}
