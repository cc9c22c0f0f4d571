//! The stylesheet and the checklist script, compiled into the binary: no CDN, no inline code
//! (the CSP forbids it), no file I/O at run time.

use super::respond::Reply;
use crate::error::AppError;

pub const STYLE_CSS: &str = include_str!("../../assets/style.css");
pub const POLICY_JS: &str = include_str!("../../assets/policy.js");
/// A tab icon, so browsers do not ask for /favicon.ico (a route that does not exist).
pub const FAVICON_SVG: &str = include_str!("../../assets/favicon.svg");

pub fn asset(file: &str) -> Result<Reply, AppError> {
    match file {
        "style.css" => Ok(Reply::asset("text/css; charset=utf-8", STYLE_CSS)),
        "policy.js" => Ok(Reply::asset("text/javascript; charset=utf-8", POLICY_JS)),
        "favicon.svg" => Ok(Reply::asset("image/svg+xml", FAVICON_SVG)),
        _ => Err(AppError::NotFound),
    }
}
