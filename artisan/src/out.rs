//! Output a Laravel user knows: `  INFO  Event [src/events/x.rs] created successfully.`
//!
//! anstream strips the colour when stdout is not a terminal or `NO_COLOR` is set.

use std::io::{BufRead, IsTerminal, Write};

use anstyle::{AnsiColor, Style};

fn badge(bg: AnsiColor) -> Style {
    Style::new()
        .bold()
        .bg_color(Some(bg.into()))
        .fg_color(Some(AnsiColor::White.into()))
}

fn line(mut w: impl Write, style: Style, label: &str, text: &str) {
    // A closed pipe (`artisan event:list | head`) is not an error worth a panic.
    let _ = writeln!(w, "  {style} {label} {style:#} {text}");
}

pub fn info(text: &str) {
    line(anstream::stdout(), badge(AnsiColor::Blue), "INFO", text);
}

pub fn warn(text: &str) {
    line(anstream::stdout(), badge(AnsiColor::Yellow), "WARN", text);
}

pub fn error(text: &str) {
    line(anstream::stderr(), badge(AnsiColor::Red), "ERROR", text);
}

/// Plain text on stdout, colour stripped as above.
pub fn plain(text: &str) {
    let _ = writeln!(anstream::stdout(), "{text}");
}

pub fn dim() -> Style {
    Style::new().dimmed()
}

pub fn bold() -> Style {
    Style::new().bold()
}

pub fn yellow() -> Style {
    Style::new().fg_color(Some(AnsiColor::Yellow.into()))
}

pub fn green() -> Style {
    Style::new().fg_color(Some(AnsiColor::Green.into())).bold()
}

pub fn red() -> Style {
    Style::new().fg_color(Some(AnsiColor::Red.into())).bold()
}

/// Asks on the terminal; refuses (false) when stdin is not one.
pub fn confirm(question: &str) -> std::io::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    print!("  {question} (yes/no) [no]: ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
