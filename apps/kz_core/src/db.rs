//! Names Kazoo's databases: account databases, monthly databases (MODBs) and their classes.
//!
//! Ports `kzs_util:format_account_db/1` and `kazoo_modb`: an account id `0123456789abcdef...` lives in
//! `account/01/23/456789abcdef...`, stored URL-encoded as `account%2F01%2F23%2F456789abcdef...`; its monthly
//! database for 2024-01 adds `-202401`, and documents in it carry the id prefix `202401-`.

use crate::ids;

/// The global database of outbound jobs in flight and faxbox copies.
pub const FAXES: &str = "faxes";
/// The global database of account documents.
pub const ACCOUNTS: &str = "accounts";
/// The global database of system configuration.
pub const SYSTEM_CONFIG: &str = "system_config";

/// What a database holds, which decides the design documents it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DbClass {
    /// `faxes`
    Faxes,
    /// `accounts`
    Accounts,
    /// `system_config`
    SystemConfig,
    /// An account database.
    Account,
    /// A monthly account database.
    Modb,
    /// Anything else.
    Other,
}

impl DbClass {
    /// The class of a database name, encoded or raw.
    pub fn of(db: &str) -> DbClass {
        match db {
            FAXES => DbClass::Faxes,
            ACCOUNTS => DbClass::Accounts,
            SYSTEM_CONFIG => DbClass::SystemConfig,
            _ => match parse_account_db(db) {
                Some((_, Some(_))) => DbClass::Modb,
                Some((_, None)) => DbClass::Account,
                None => DbClass::Other,
            },
        }
    }
}

/// The encoded account database name (`account%2Fxx%2Fyy%2Frest`) of an account id.
pub fn account_db(account_id: &str) -> String {
    let id = account_id.to_ascii_lowercase();
    if id.len() < 5 {
        return format!("account%2F{id}");
    }
    format!("account%2F{}%2F{}%2F{}", &id[0..2], &id[2..4], &id[4..])
}

/// The raw (unencoded) account database name (`account/xx/yy/rest`).
pub fn account_db_raw(account_id: &str) -> String {
    account_db(account_id).replace("%2F", "/")
}

/// The encoded monthly database of an account (`account%2Fxx%2Fyy%2Frest-YYYYMM`).
pub fn modb(account_id: &str, year: i32, month: u32) -> String {
    format!("{}-{year:04}{month:02}", account_db(account_id))
}

/// The monthly database of an account for the month of a Unix timestamp (UTC).
pub fn modb_at(account_id: &str, unix: i64) -> String {
    let (y, m) = crate::time::year_month(unix);
    modb(account_id, y, m)
}

/// A document id for a monthly database: `YYYYMM-<32hex>`.
pub fn modb_doc_id(year: i32, month: u32, id: &str) -> String {
    format!("{year:04}{month:02}-{id}")
}

/// The (year, month) prefix of a monthly document id (`202401-...`), if it has one.
pub fn modb_id_month(id: &str) -> Option<(i32, u32)> {
    let (prefix, rest) = id.split_once('-')?;
    if prefix.len() != 6 || !prefix.bytes().all(|b| b.is_ascii_digit()) || rest.is_empty() {
        return None;
    }
    let year = prefix[0..4].parse().ok()?;
    let month: u32 = prefix[4..6].parse().ok()?;
    (1..=12).contains(&month).then_some((year, month))
}

/// The account id of an account database or MODB name (encoded or raw), and the MODB's (year, month).
pub fn parse_account_db(db: &str) -> Option<(String, Option<(i32, u32)>)> {
    let raw = db.replace("%2F", "/").replace("%2f", "/");
    let rest = raw.strip_prefix("account/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() != 3 || parts[0].len() != 2 || parts[1].len() != 2 {
        return None;
    }
    let (tail, month) = match parts[2].split_once('-') {
        Some((tail, ym)) => {
            if ym.len() != 6 || !ym.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let m: u32 = ym[4..6].parse().ok()?;
            if !(1..=12).contains(&m) {
                return None;
            }
            (tail, Some((ym[0..4].parse().ok()?, m)))
        }
        None => (parts[2], None),
    };
    let id = format!("{}{}{}", parts[0], parts[1], tail);
    ids::is_id(&id).then_some((id, month))
}

/// The account id of an account database or MODB name, encoded or raw.
pub fn account_id_of_db(db: &str) -> Option<String> {
    parse_account_db(db).map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn account_db_is_encoded_like_kazoo() {
        assert_eq!(account_db(ID), "account%2F01%2F23%2F456789abcdef0123456789abcdef");
        assert_eq!(account_db_raw(ID), "account/01/23/456789abcdef0123456789abcdef");
        assert_eq!(modb(ID, 2024, 1), "account%2F01%2F23%2F456789abcdef0123456789abcdef-202401");
        assert_eq!(modb_at(ID, 1_704_067_200), modb(ID, 2024, 1));
    }

    #[test]
    fn db_names_parse_back() {
        assert_eq!(account_id_of_db(&account_db(ID)).as_deref(), Some(ID));
        assert_eq!(account_id_of_db(&account_db_raw(ID)).as_deref(), Some(ID));
        assert_eq!(parse_account_db(&modb(ID, 2023, 12)), Some((ID.to_string(), Some((2023, 12)))));
        assert_eq!(parse_account_db("account%2F01%2F23%2Fzz"), None);
        assert_eq!(parse_account_db(&format!("{}-202413", account_db(ID))), None);
    }

    #[test]
    fn classes() {
        assert_eq!(DbClass::of("faxes"), DbClass::Faxes);
        assert_eq!(DbClass::of("accounts"), DbClass::Accounts);
        assert_eq!(DbClass::of("system_config"), DbClass::SystemConfig);
        assert_eq!(DbClass::of(&account_db(ID)), DbClass::Account);
        assert_eq!(DbClass::of(&modb(ID, 2024, 2)), DbClass::Modb);
        assert_eq!(DbClass::of("webhooks"), DbClass::Other);
    }

    #[test]
    fn modb_doc_ids() {
        assert_eq!(modb_doc_id(2024, 1, ID), format!("202401-{ID}"));
        assert_eq!(modb_id_month(&format!("202401-{ID}")), Some((2024, 1)));
        assert_eq!(modb_id_month(ID), None);
        assert_eq!(modb_id_month("202413-x"), None);
    }
}
