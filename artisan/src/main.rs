fn main() {
    std::process::exit(event_artisan::run(std::env::args_os()));
}
