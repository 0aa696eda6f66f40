//! Attribute arguments: `key`, `key = value` and `key(a, b)`, parsed into raw
//! key/value pairs first, then read into typed values with one error per bad
//! key (unknown, duplicate or of the wrong type).

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Ident, LitInt, LitStr, Token};

use crate::ctxt::Ctxt;

/// The value of one argument, unparsed.
#[derive(Debug)]
pub enum RawValue {
    /// `queued`
    Flag,
    /// `queue = "emails"`: the tokens after `=`.
    Eq(TokenStream),
    /// `tags("a", "b")`: the tokens inside the parentheses.
    List(TokenStream, Span),
}

/// One argument as written: its key and its unparsed value.
#[derive(Debug)]
pub struct RawArg {
    /// The key (a keyword such as `crate` is allowed).
    pub key: Ident,
    /// What followed the key.
    pub value: RawValue,
}

impl RawArg {
    /// The key as text, without a raw identifier's `r#`.
    pub fn name(&self) -> String {
        self.key.unraw().to_string()
    }
}

/// Parses `a, b = 1, c("x")`. Only the punctuation is checked here; values are
/// read by key later, so each bad value gets its own message.
pub fn parse_args(input: ParseStream) -> syn::Result<Vec<RawArg>> {
    let mut args = Vec::new();
    while !input.is_empty() {
        let key = input.call(Ident::parse_any).map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a key such as `queue = \"emails\"` or `queued`",
            )
        })?;
        let value = if input.peek(Token![=]) {
            let eq: Token![=] = input.parse()?;
            let tokens = value_tokens(input)?;
            if tokens.is_empty() {
                return Err(syn::Error::new(
                    eq.span,
                    format_args!("expected a value after `{key} =`"),
                ));
            }
            RawValue::Eq(tokens)
        } else if input.peek(syn::token::Paren) {
            let content;
            let paren = syn::parenthesized!(content in input);
            RawValue::List(content.parse()?, paren.span.join())
        } else {
            RawValue::Flag
        };
        args.push(RawArg { key, value });
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(args)
}

/// The tokens of one value: up to the next comma that is not inside `<...>`
/// (so `event = Wrapper<A, B>` stays one value).
fn value_tokens(input: ParseStream) -> syn::Result<TokenStream> {
    input.step(|cursor| {
        let mut rest = *cursor;
        let mut tokens = TokenStream::new();
        let mut angle_depth = 0usize;
        while let Some((tt, next)) = rest.token_tree() {
            if let TokenTree::Punct(p) = &tt {
                match p.as_char() {
                    ',' if angle_depth == 0 => break,
                    '<' => angle_depth += 1,
                    '>' => angle_depth = angle_depth.saturating_sub(1),
                    _ => {}
                }
            }
            tokens.extend([tt]);
            rest = next;
        }
        Ok((tokens, rest))
    })
}

/// Checks every key against `allowed` (unknown keys get the list and a "did
/// you mean") and against earlier keys (duplicates), and returns the good ones.
pub fn known_args(
    cx: &mut Ctxt,
    attribute: &str,
    args: Vec<RawArg>,
    allowed: &[&str],
) -> Vec<RawArg> {
    let mut seen: Vec<String> = Vec::new();
    let mut kept = Vec::new();
    for arg in args {
        let name = arg.name();
        if !allowed.contains(&name.as_str()) {
            let expected = allowed
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let hint = match closest(&name, allowed) {
                Some(best) => format!("; did you mean `{best}`?"),
                None => String::new(),
            };
            cx.error_spanned_by(
                &arg.key,
                format_args!(
                    "unknown key `{name}` in `{attribute}`{hint}\nexpected one of: {expected}"
                ),
            );
            continue;
        }
        if seen.contains(&name) {
            cx.error_spanned_by(
                &arg.key,
                format_args!("duplicate key `{name}` in `{attribute}`: give it once"),
            );
            continue;
        }
        seen.push(name);
        kept.push(arg);
    }
    kept
}

fn closest<'a>(name: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|k| (strsim::jaro_winkler(name, k), *k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

// ----- typed readers: each records its own error and returns None --------

fn value_error(cx: &mut Ctxt, arg: &RawArg, expected: &str) {
    let name = arg.name();
    match &arg.value {
        RawValue::Flag => {
            cx.error_spanned_by(&arg.key, format_args!("`{name}` needs a value: {expected}"))
        }
        RawValue::Eq(tokens) => {
            cx.error_spanned_by(tokens, format_args!("wrong value for `{name}`: {expected}"))
        }
        RawValue::List(_, span) => {
            cx.error_at(*span, format_args!("wrong value for `{name}`: {expected}"))
        }
    }
}

/// A flag: `queued`.
pub fn flag(cx: &mut Ctxt, arg: &RawArg) -> Option<Span> {
    match &arg.value {
        RawValue::Flag => Some(arg.key.span()),
        _ => {
            let name = arg.name();
            let tokens = match &arg.value {
                RawValue::Eq(tokens) | RawValue::List(tokens, _) => tokens.clone(),
                RawValue::Flag => TokenStream::new(),
            };
            cx.error_spanned_by(
                tokens,
                format_args!("`{name}` is a flag and takes no value: write `{name}` alone"),
            );
            None
        }
    }
}

/// A boolean: `replayable = false`.
pub fn boolean(cx: &mut Ctxt, arg: &RawArg) -> Option<bool> {
    let expected = format!("expected `true` or `false`, e.g. `{} = false`", arg.name());
    let RawValue::Eq(tokens) = &arg.value else {
        value_error(cx, arg, &expected);
        return None;
    };
    match syn::parse2::<syn::LitBool>(tokens.clone()) {
        Ok(lit) => Some(lit.value),
        Err(_) => {
            value_error(cx, arg, &expected);
            None
        }
    }
}

/// A string: `queue = "emails"`.
pub fn string(cx: &mut Ctxt, arg: &RawArg, example: &str) -> Option<LitStr> {
    let expected = format!("expected a string, e.g. `{} = \"{example}\"`", arg.name());
    let RawValue::Eq(tokens) = &arg.value else {
        value_error(cx, arg, &expected);
        return None;
    };
    match syn::parse2::<LitStr>(tokens.clone()) {
        Ok(lit) => Some(lit),
        Err(_) => {
            value_error(cx, arg, &expected);
            None
        }
    }
}

/// A whole number at least `min`: `tries = 3`. `min` may be negative
/// (`priority = -5`).
pub fn integer(
    cx: &mut Ctxt,
    arg: &RawArg,
    min: i64,
    max: i64,
    example: i64,
) -> Option<(i64, Span)> {
    let name = arg.name();
    let expected = if min >= 0 {
        format!("expected a whole number of at least {min}, e.g. `{name} = {example}`")
    } else {
        format!("expected a whole number, e.g. `{name} = {example}`")
    };
    let RawValue::Eq(tokens) = &arg.value else {
        value_error(cx, arg, &expected);
        return None;
    };
    let Some(value) = parse_signed(tokens.clone()) else {
        value_error(cx, arg, &expected);
        return None;
    };
    if value < min || value > max {
        let bound = if value < min {
            format!("at least {min}")
        } else {
            format!("at most {max}")
        };
        cx.error_spanned_by(
            tokens,
            format_args!("`{name}` must be {bound}, got {value}"),
        );
        return None;
    }
    Some((value, tokens_span(tokens)))
}

fn parse_signed(tokens: TokenStream) -> Option<i64> {
    let parser = |input: ParseStream| {
        let negative = input.parse::<Option<Token![-]>>()?.is_some();
        let lit: LitInt = input.parse()?;
        if !lit.suffix().is_empty() {
            return Err(syn::Error::new(lit.span(), "no suffix"));
        }
        let value: i64 = lit.base10_parse()?;
        Ok(if negative { -value } else { value })
    };
    parser.parse2(tokens).ok()
}

fn tokens_span(tokens: &TokenStream) -> Span {
    tokens
        .clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |tt| tt.span())
}

fn comma_list(tokens: TokenStream) -> syn::Result<Punctuated<TokenStream, Token![,]>> {
    let parser = |input: ParseStream| {
        Punctuated::<TokenStream, Token![,]>::parse_terminated_with(input, value_tokens)
    };
    parser.parse2(tokens)
}

/// A list of whole seconds: `backoff = [5, 15, 30]`.
pub fn seconds_list(cx: &mut Ctxt, arg: &RawArg) -> Option<Vec<u64>> {
    let expected = "expected a list of whole seconds, e.g. `backoff = [5, 15, 30]`, or `backoff = \"exponential:1,60\"`";
    let RawValue::Eq(tokens) = &arg.value else {
        value_error(cx, arg, expected);
        return None;
    };
    let mut iter = tokens.clone().into_iter();
    let (Some(TokenTree::Group(group)), None) = (iter.next(), iter.next()) else {
        value_error(cx, arg, expected);
        return None;
    };
    if group.delimiter() != Delimiter::Bracket {
        value_error(cx, arg, expected);
        return None;
    }
    let Ok(items) = comma_list(group.stream()) else {
        value_error(cx, arg, expected);
        return None;
    };
    let mut seconds = Vec::new();
    let mut ok = true;
    for item in items {
        match parse_signed(item.clone()) {
            Some(n) if (0..=i64::from(u32::MAX)).contains(&n) => seconds.push(n as u64),
            _ => {
                ok = false;
                cx.error_spanned_by(
                    item,
                    "`backoff` takes whole seconds (0 or more) in a list, e.g. `backoff = [5, 15, 30]`",
                );
            }
        }
    }
    if ok && seconds.is_empty() {
        cx.error_spanned_by(
            group.to_token_stream(),
            format_args!("`backoff` is empty; {expected}, or leave it out"),
        );
        return None;
    }
    ok.then_some(seconds)
}

/// True when the value is a string literal (`backoff = "exponential:1,60"`
/// rather than a list).
pub fn is_string(arg: &RawArg) -> bool {
    matches!(&arg.value, RawValue::Eq(tokens) if syn::parse2::<LitStr>(tokens.clone()).is_ok())
}

/// Exponential backoff: `backoff = "exponential:BASE,MAX"`, whole seconds,
/// `1 <= BASE <= MAX`; (base, max).
pub fn exponential(cx: &mut Ctxt, arg: &RawArg) -> Option<(u64, u64)> {
    let lit = string(cx, arg, "exponential:1,60")?;
    let text = lit.value();
    let expected = "expected `\"exponential:BASE,MAX\"` in whole seconds with 1 <= BASE <= MAX, e.g. `backoff = \"exponential:1,60\"`, or a list, e.g. `backoff = [5, 15, 30]`";
    let parsed = text
        .strip_prefix("exponential:")
        .and_then(|rest| rest.split_once(','))
        .and_then(|(base, max)| {
            Some((
                base.trim().parse::<u64>().ok()?,
                max.trim().parse::<u64>().ok()?,
            ))
        });
    match parsed {
        Some((base, max)) if base >= 1 && base <= max && max <= u64::from(u32::MAX) => {
            Some((base, max))
        }
        Some((base, max)) if base > max => {
            cx.error_spanned_by(
                &lit,
                format_args!("`backoff` `{text}`: BASE ({base}) is above MAX ({max}); {expected}"),
            );
            None
        }
        _ => {
            cx.error_spanned_by(&lit, format_args!("wrong value for `backoff`: {expected}"));
            None
        }
    }
}

/// A function or closure taking the event: `unique_id = |e: &OrderPlaced|
/// e.order_id`, `unique_id = order_key`; its tokens, and their span.
pub fn callable(cx: &mut Ctxt, arg: &RawArg) -> Option<(TokenStream, Span)> {
    let expected = "expected a function or closure taking the event, e.g. `unique_id = |e: &OrderPlaced| e.order_id`";
    let RawValue::Eq(tokens) = &arg.value else {
        value_error(cx, arg, expected);
        return None;
    };
    if syn::parse2::<syn::Lit>(tokens.clone()).is_ok() {
        cx.error_spanned_by(
            tokens,
            format_args!(
                "`{}` takes a function or closure, not a literal; {expected}",
                arg.name()
            ),
        );
        return None;
    }
    match syn::parse2::<syn::Expr>(tokens.clone()) {
        Ok(_) => Some((tokens.clone(), tokens_span(tokens))),
        Err(_) => {
            value_error(cx, arg, expected);
            None
        }
    }
}

/// A list of strings: `tags("user", "auth")`.
pub fn string_list(cx: &mut Ctxt, arg: &RawArg) -> Option<Vec<LitStr>> {
    let expected = "expected a list of strings, e.g. `tags(\"user\", \"auth\")`";
    let RawValue::List(tokens, _) = &arg.value else {
        value_error(cx, arg, expected);
        return None;
    };
    let Ok(items) = comma_list(tokens.clone()) else {
        value_error(cx, arg, expected);
        return None;
    };
    let mut strings = Vec::new();
    let mut ok = true;
    for item in items {
        match syn::parse2::<LitStr>(item.clone()) {
            Ok(lit) => strings.push(lit),
            Err(_) => {
                ok = false;
                cx.error_spanned_by(item, format_args!("tags are strings; {expected}"));
            }
        }
    }
    ok.then_some(strings)
}

/// A list of strings in brackets: `middleware = ["throttle:10,1"]`.
pub(crate) fn bracket_strings(cx: &mut Ctxt, arg: &RawArg, example: &str) -> Option<Vec<LitStr>> {
    let expected = format!("expected a list of strings, e.g. `{example}`");
    let RawValue::Eq(tokens) = &arg.value else {
        value_error(cx, arg, &expected);
        return None;
    };
    let mut iter = tokens.clone().into_iter();
    let (Some(TokenTree::Group(group)), None) = (iter.next(), iter.next()) else {
        value_error(cx, arg, &expected);
        return None;
    };
    if group.delimiter() != Delimiter::Bracket {
        value_error(cx, arg, &expected);
        return None;
    }
    let Ok(items) = comma_list(group.stream()) else {
        value_error(cx, arg, &expected);
        return None;
    };
    let mut strings = Vec::new();
    let mut ok = true;
    for item in items {
        match syn::parse2::<LitStr>(item.clone()) {
            Ok(lit) => strings.push(lit),
            Err(_) => {
                ok = false;
                cx.error_spanned_by(item, &expected);
            }
        }
    }
    ok.then_some(strings)
}

/// A type: `event = UserRegisteredEvent`.
pub fn ty(cx: &mut Ctxt, arg: &RawArg) -> Option<syn::Type> {
    let expected = "expected the event type, e.g. `event = UserRegisteredEvent`";
    let RawValue::Eq(tokens) = &arg.value else {
        value_error(cx, arg, expected);
        return None;
    };
    if let Ok(lit) = syn::parse2::<LitStr>(tokens.clone()) {
        cx.error_spanned_by(
            tokens,
            format_args!(
                "`event` takes a type, not a string: write `event = {}`",
                lit.value()
            ),
        );
        return None;
    }
    match syn::parse2::<syn::Type>(tokens.clone()) {
        Ok(ty) => Some(ty),
        Err(_) => {
            value_error(cx, arg, expected);
            None
        }
    }
}

/// The path of a renamed event-core: `crate = "my_events"`.
pub fn crate_path(cx: &mut Ctxt, arg: &RawArg) -> Option<syn::Path> {
    let lit = string(cx, arg, "event_core")?;
    match lit.parse::<syn::Path>() {
        Ok(path) => Some(path),
        Err(_) => {
            cx.error_spanned_by(
                &lit,
                "expected a path to the event-core crate, e.g. `crate = \"event_core\"`",
            );
            None
        }
    }
}

/// A path to a function: `queue_if = Self::is_large`.
pub fn fn_path(cx: &mut Ctxt, arg: &RawArg, example: &str) -> Option<syn::Path> {
    let expected = format!("expected a path to a function, e.g. `{example}`");
    let RawValue::Eq(tokens) = &arg.value else {
        value_error(cx, arg, &expected);
        return None;
    };
    match syn::parse2::<syn::Path>(tokens.clone()) {
        Ok(path) => Some(path),
        Err(_) => {
            cx.error_spanned_by(tokens, expected);
            None
        }
    }
}
