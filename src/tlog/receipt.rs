//! answerlog's receipts: a C2SP tlog-proof (`proof.rs`) of one answer's
//! leaf, whose `extra` data names the article, the version and the
//! commit, and the answer's salt (docs/AUDIT.md, "Receipts"). The extra
//! is not authenticated: the commit hash and the salt it carries are what
//! the leaf needs besides the answer, and a wrong one makes another leaf,
//! which the proof does not verify; the article and the version must be
//! the answer's.

use crate::domain::{hex, ArticleId, Hash, Salt};

/// What a receipt's `extra` names, as text lines:
/// `article <uuid>\nversion <n>\ncommit <64 hex digits>\n`, then
/// `answer-salt <64 hex digits>\n` for a leaf of v2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReceiptExtra {
    pub(crate) article: ArticleId,
    pub(crate) version: u64,
    pub(crate) commit: Hash,
    /// The commit's answer salt; none for a leaf of v1.
    pub(crate) answer_salt: Option<Salt>,
}

impl ReceiptExtra {
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut text = format!(
            "article {}\nversion {}\ncommit {}\n",
            self.article,
            self.version,
            hex(&self.commit)
        );
        if let Some(salt) = &self.answer_salt {
            text.push_str(&format!("answer-salt {}\n", hex(salt)));
        }
        text.into_bytes()
    }

    /// Parses the extra of a receipt this server made: exactly its three
    /// lines, in order, and the answer salt's line or none.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "the receipt's extra is not UTF-8")?;
        let form = || {
            format!(
                "the receipt's extra is \"article <uuid>\\nversion <n>\\ncommit <hex>\\n\", \
                 then \"answer-salt <hex>\\n\" or nothing, not {text:?}"
            )
        };
        let body = text.strip_suffix('\n').ok_or_else(form)?;
        let lines: Vec<&str> = body.split('\n').collect();
        let (article, version, commit, salt) = match lines[..] {
            [article, version, commit] => (article, version, commit, None),
            [article, version, commit, salt] => (article, version, commit, Some(salt)),
            _ => return Err(form()),
        };
        fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
            line.strip_prefix(name)?.strip_prefix(' ')
        }
        let hash = |text: &str| {
            crate::signing::unhex::<32>(text)
                .filter(|bytes| hex(bytes) == text)
                .ok_or_else(form)
        };
        let article = field(article, "article").ok_or_else(form)?;
        let version = field(version, "version").ok_or_else(form)?;
        let commit = field(commit, "commit").ok_or_else(form)?;
        let answer_salt = match salt {
            None => None,
            Some(line) => Some(hash(field(line, "answer-salt").ok_or_else(form)?)?),
        };
        let article_id = uuid::Uuid::parse_str(article)
            .ok()
            .filter(|u| u.hyphenated().to_string() == article)
            .map(ArticleId::from_uuid)
            .ok_or_else(form)?;
        let version = super::checkpoint::parse_decimal(version).ok_or_else(form)?;
        Ok(Self {
            article: article_id,
            version,
            commit: hash(commit)?,
            answer_salt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extra_reads_back_and_nothing_else_reads() {
        let unsalted = ReceiptExtra {
            article: ArticleId::from_uuid(uuid::Uuid::now_v7()),
            version: 12,
            commit: [0xab; 32],
            answer_salt: None,
        };
        let extra = ReceiptExtra {
            answer_salt: Some([0xcd; 32]),
            ..unsalted.clone()
        };
        assert_eq!(ReceiptExtra::parse(&unsalted.to_bytes()).unwrap(), unsalted);
        let bytes = extra.to_bytes();
        assert_eq!(ReceiptExtra::parse(&bytes).unwrap(), extra);
        let text = String::from_utf8(bytes).unwrap();
        for bad in [
            text.replace("answer-salt", "answer_salt"),
            text.replace(&hex(&[0xcd; 32]), &hex(&[0xcd; 31])),
            format!("{text}answer-salt {}\n", hex(&[0xcd; 32])),
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
