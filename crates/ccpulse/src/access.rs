//! Who may read what, from the `[http]` section: tokens (inline and from a tokens file),
//! `auth`, and the rule that an address other than loopback needs tokens; and
//! `ccpulse token`, which issues a token and prints the lines for the configuration.

use std::net::ToSocketAddrs;
use std::path::PathBuf;

use ccpulse_http::auth::{hash_token, new_token, Access, Role, TokenEntry};

use crate::config_file::{toml_error, AuthMode, HttpSection, TokensFile};

/// Why access cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// No token, and an address other than loopback.
    #[error(
        "listening on {listen} without tokens would let anyone who reaches the port read every agent's \
         figures. Add a token (`ccpulse token --role supervisor --name NAME` prints the lines for \
         [[http.tokens]]), listen on 127.0.0.1, or set http.auth = \"none\" to accept it"
    )]
    OpenListen {
        /// The address.
        listen: String,
    },
    /// `auth = "tokens"` and no token.
    #[error("http.auth = \"tokens\" but no token is configured ([[http.tokens]] or http.tokens_file)")]
    NoTokens,
    /// `auth = "none"` and tokens: which is meant?
    #[error("http.auth = \"none\" and tokens are configured: remove one or the other")]
    NoneWithTokens,
    /// The tokens file cannot be read.
    #[error("cannot read tokens file {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// The tokens file is not valid (the error never prints a value).
    #[error("invalid tokens file {path}: {source}")]
    File {
        /// The path.
        path: String,
        /// What is wrong.
        source: ccpulse_core::ConfigError,
    },
    /// A hash that is not one.
    #[error(transparent)]
    Hash(#[from] ccpulse_http::auth::BadHash),
    /// The listen address does not resolve.
    #[error("cannot resolve listen address {listen}: {source}")]
    Resolve {
        /// The address.
        listen: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Access for `http`, listening on `listen`; and whether it is open by `auth = "none"`
/// (to warn about at every start).
pub fn resolve(http: &HttpSection, listen: &str) -> Result<(Access, bool), AccessError> {
    let mut entries: Vec<TokenEntry> = http
        .tokens
        .iter()
        .flatten()
        .map(|t| TokenEntry {
            name: t.name.clone(),
            role: t.role,
            hash: t.hash.clone(),
        })
        .collect();
    if let Some(path) = &http.tokens_file {
        let text = std::fs::read_to_string(path).map_err(|source| AccessError::Read {
            path: path.clone(),
            source,
        })?;
        let file: TokensFile = toml::from_str(&text).map_err(|e| AccessError::File {
            path: path.clone(),
            source: toml_error(&text, &e),
        })?;
        entries.extend(file.tokens.into_iter().map(|t| TokenEntry {
            name: t.name,
            role: t.role,
            hash: t.hash,
        }));
    }
    match (http.auth, entries.is_empty()) {
        (Some(AuthMode::None), true) => Ok((Access::open(), true)),
        (Some(AuthMode::None), false) => Err(AccessError::NoneWithTokens),
        (Some(AuthMode::Tokens), true) => Err(AccessError::NoTokens),
        (_, false) => Ok((Access::tokens(&entries)?, false)),
        (None, true) => {
            let addrs: Vec<_> = listen
                .to_socket_addrs()
                .map_err(|source| AccessError::Resolve {
                    listen: listen.to_owned(),
                    source,
                })?
                .collect();
            if addrs.is_empty() || addrs.iter().any(|a| !a.ip().is_loopback()) {
                return Err(AccessError::OpenListen {
                    listen: listen.to_owned(),
                });
            }
            Ok((Access::open(), false))
        }
    }
}

/// Arguments of `token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// `wallboard` (queues, channels, breaches, the page), `supervisor` (also every
    /// agent's figures) or `metrics` (`/metrics`).
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    /// Who or what will hold it (shown in the configuration; revoke a token by
    /// deleting its entry).
    #[arg(long, default_value = "token")]
    pub name: String,
    /// Also write the token alone to this file (mode 0600), e.g. for Prometheus's
    /// `credentials_file`.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("unknown role {s:?}; roles: wallboard, supervisor, metrics"))
}

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No randomness.
    #[error("no random bytes from the operating system: {0}")]
    Random(std::io::Error),
    /// The token file cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Issues a token: prints it once (on stderr), and the lines that grant it (on stdout).
pub fn issue(args: &TokenArgs) -> Result<(), TokenError> {
    let token = new_token().map_err(TokenError::Random)?;
    if let Some(path) = &args.token_file {
        write_private(path, &token).map_err(|source| TokenError::Write {
            path: path.display().to_string(),
            source,
        })?;
    }
    // The token on stderr, the lines that grant it on stdout: `ccpulse token … >>
    // ccpulse.toml` shows the token once and writes only its hash to the file.
    eprintln!("The token (give it to its holder; it is stored nowhere, so keep it now):");
    eprintln!("  {token}");
    eprintln!("Add these lines to the configuration file (to http.tokens_file as [[tokens]]) and restart ccpulse:");
    println!("[[http.tokens]]");
    println!("name = {:?}", args.name);
    println!("role = {:?}", args.role.as_str());
    println!("hash = {:?}", hash_token(&token));
    Ok(())
}

/// Writes `text` to a new file readable by its owner only.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_file::TokenSection;

    fn http(auth: Option<AuthMode>, tokens: bool) -> HttpSection {
        HttpSection {
            auth,
            tokens: tokens.then(|| {
                vec![TokenSection {
                    name: "k".into(),
                    role: Role::Wallboard,
                    hash: hash_token("ccp_k"),
                }]
            }),
            ..HttpSection::default()
        }
    }

    #[test]
    fn an_open_address_needs_tokens_or_an_explicit_none() {
        let e = resolve(&http(None, false), "0.0.0.0:8080").unwrap_err().to_string();
        assert!(e.contains("ccpulse token") && e.contains("auth = \"none\""), "{e}");
        assert!(!resolve(&http(None, false), "127.0.0.1:8080").unwrap().0.enforced());
        assert!(!resolve(&http(None, false), "[::1]:8080").unwrap().0.enforced());
        let (a, warn) = resolve(&http(Some(AuthMode::None), false), "0.0.0.0:8080").unwrap();
        assert!(!a.enforced() && warn);
        assert!(resolve(&http(None, true), "0.0.0.0:8080").unwrap().0.enforced());
        assert!(matches!(
            resolve(&http(Some(AuthMode::Tokens), false), "127.0.0.1:1"),
            Err(AccessError::NoTokens)
        ));
        assert!(matches!(
            resolve(&http(Some(AuthMode::None), true), "127.0.0.1:1"),
            Err(AccessError::NoneWithTokens)
        ));
    }
}
