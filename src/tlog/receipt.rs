//! answerlog's receipts: a C2SP tlog-proof (`proof.rs`) of one answer's
//! leaf, whose `extra` data names the article, the version and the
//! commit (docs/AUDIT.md, "Receipts"). The extra is not authenticated:
//! the commit hash it carries is what the leaf needs besides the answer,
//! and a wrong one makes another leaf, which the proof does not verify;
//! the article and the version must be the answer's.

use crate::domain::{hex, ArticleId, Hash};

/// What a receipt's `extra` names, as text lines:
/// `article <uuid>\nversion <n>\ncommit <64 hex digits>\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReceiptExtra {
    pub(crate) article: ArticleId,
    pub(crate) version: u64,
    pub(crate) commit: Hash,
}

impl ReceiptExtra {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        format!(
            "article {}\nversion {}\ncommit {}\n",
            self.article,
            self.version,
            hex(&self.commit)
        )
        .into_bytes()
    }

    /// Parses the extra of a receipt this server made: exactly its three
    /// lines, in order.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "the receipt's extra is not UTF-8")?;
        let form = || {
            format!(
                "the receipt's extra is \"article <uuid>\\nversion <n>\\ncommit <hex>\\n\", not {text:?}"
            )
        };
        let body = text.strip_suffix('\n').ok_or_else(form)?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [article, version, commit] = lines[..] else {
            return Err(form());
        };
        fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
            line.strip_prefix(name)?.strip_prefix(' ')
        }
        let article = field(article, "article").ok_or_else(form)?;
        let version = field(version, "version").ok_or_else(form)?;
        let commit = field(commit, "commit").ok_or_else(form)?;
        let article_id = uuid::Uuid::parse_str(article)
            .ok()
            .filter(|u| u.hyphenated().to_string() == article)
            .map(ArticleId::from_uuid)
            .ok_or_else(form)?;
        let version = super::checkpoint::parse_decimal(version).ok_or_else(form)?;
        let commit = crate::signing::unhex::<32>(commit)
            .filter(|bytes| hex(bytes) == commit)
            .ok_or_else(form)?;
        Ok(Self {
            article: article_id,
            version,
            commit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extra_reads_back_and_nothing_else_reads() {
        let extra = ReceiptExtra {
            article: ArticleId::from_uuid(uuid::Uuid::now_v7()),
            version: 12,
            commit: [0xab; 32],
        };
        let bytes = extra.to_bytes();
        assert_eq!(ReceiptExtra::parse(&bytes).unwrap(), extra);
        let text = String::from_utf8(bytes).unwrap();
        for bad in [
            text.replace("version 12", "version 012"),
            text.replace("\ncommit", "\n commit"),
            text.replace(&hex(&[0xab; 32]), &hex(&[0xab; 32]).to_uppercase()),
            text.trim_end().to_owned(),
            format!("{text}more\n"),
            text.to_uppercase(),
        ] {
            assert!(ReceiptExtra::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
