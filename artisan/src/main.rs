fn main() {
    std::process::exit(artisan::run(std::env::args_os()));
}
