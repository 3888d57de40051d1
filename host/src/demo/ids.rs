//! Real-format identifiers: 18-digit resident identity numbers (GB 11643-1999) and unified
//! social credit codes (GB 32100-2015), each with its check character computed the standard's
//! way, so that synthetic data passes the validations real systems apply.

/// Weights of the 17 digits of a resident identity number.
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check characters by the weighted sum mod 11.
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// The check character of the first 17 digits of a resident identity number.
pub fn id_check(first17: &str) -> Option<char> {
    let digits: Vec<u32> = first17
        .chars()
        .map(|c| c.to_digit(10))
        .collect::<Option<_>>()?;
    if digits.len() != 17 {
        return None;
    }
    let sum: u32 = digits.iter().zip(ID_WEIGHTS).map(|(d, w)| d * w).sum();
    Some(char::from(ID_CHECK[(sum % 11) as usize]))
}

/// A resident identity number: county code, birth date (`YYYYMMDD`), a 3-digit sequence
/// (odd for men, even for women) and the check character.
pub fn resident_id(county: &str, birth_yyyymmdd: &str, sequence: u32) -> String {
    let first17 = format!("{county}{birth_yyyymmdd}{:03}", sequence % 1000);
    let check = id_check(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

/// Whether an identity number's check character is right (a lowercase `x` counts as `X`).
pub fn resident_id_valid(id: &str) -> bool {
    id.len() == 18
        && id_check(&id[..17]).is_some_and(|c| c == id.as_bytes()[17].to_ascii_uppercase() as char)
}

/// The 31 characters of credit codes (no I, O, S, V, Z).
const CODE_CHARS: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of the 8 characters of an organisation code (GB 11714).
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

fn code_value(c: char) -> Option<u32> {
    CODE_CHARS
        .iter()
        .position(|x| char::from(*x) == c)
        .map(|p| p as u32)
}

/// The check character of an 8-character organisation code (digits and capitals).
fn org_check(body: &str) -> Option<char> {
    let mut sum = 0;
    for (c, w) in body.chars().zip(ORG_WEIGHTS) {
        let v = match c {
            '0'..='9' => c.to_digit(10)?,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return None,
        };
        sum += v * w;
    }
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        n => char::from_digit(n, 10)?,
    })
}

/// The check character of the first 17 characters of a unified social credit code.
pub fn credit_check(first17: &str) -> Option<char> {
    let mut sum = 0;
    let mut weight = 1;
    let mut n = 0;
    for c in first17.chars() {
        sum += code_value(c)? * weight;
        weight = weight * 3 % 31;
        n += 1;
    }
    if n != 17 {
        return None;
    }
    Some(char::from(CODE_CHARS[((31 - sum % 31) % 31) as usize]))
}

/// A unified social credit code of an enterprise (`9` industry and commerce, `1` enterprise)
/// registered in `county`, with organisation number `serial` (its own check character
/// included) and the code's check character.
pub fn credit_code(county: &str, serial: u64) -> String {
    let body = format!("{:08}", serial % 100_000_000);
    let org = format!("{body}{}", org_check(&body).unwrap_or('0'));
    let first17 = format!("91{county}{org}");
    let check = credit_check(&first17).unwrap_or('0');
    format!("{first17}{check}")
}

/// Whether a credit code's organisation and code check characters are right.
pub fn credit_code_valid(code: &str) -> bool {
    code.len() == 18
        && code.is_ascii()
        && org_check(&code[8..16]).is_some_and(|c| code[16..17].starts_with(c))
        && credit_check(&code[..17]).is_some_and(|c| code[17..].starts_with(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_ids_carry_the_standard_check_character() {
        // The standard's own example: 11010519491231002X.
        assert_eq!(id_check("11010519491231002"), Some('X'));
        assert!(resident_id_valid("11010519491231002X"));
        assert!(resident_id_valid("11010519491231002x"));
        assert!(!resident_id_valid("110105194912310021"));
        let id = resident_id("330102", "19450101", 123);
        assert_eq!(&id[..17], "33010219450101123");
        assert!(resident_id_valid(&id));
    }

    #[test]
    fn credit_codes_carry_both_check_characters() {
        // The standard's weights are 3^(i-1) mod 31; the check character completes the
        // weighted sum to a multiple of 31, and the organisation code's to one of 11.
        let weights = [
            1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
        ];
        for serial in [0, 1, 1234, 99_999_999, 31_415_926] {
            let code = credit_code("330102", serial);
            assert!(code.starts_with("91330102"), "{code}");
            assert!(credit_code_valid(&code), "{code}");
            let v: Vec<u32> = code.chars().map(|c| code_value(c).expect("char")).collect();
            let sum: u32 = v[..17].iter().zip(weights).map(|(a, b)| a * b).sum();
            assert_eq!((sum + v[17]) % 31, 0, "{code}");
            let org: u32 = code[8..16]
                .chars()
                .zip(ORG_WEIGHTS)
                .map(|(c, w)| c.to_digit(36).expect("digit") * w)
                .sum();
            let check = match &code[16..17] {
                "X" => 10,
                c => c.parse::<u32>().expect("digit"),
            };
            assert_eq!((org + check) % 11, 0, "{code}");
        }
        let good = credit_code("330102", 1234);
        let mut bad = good.clone();
        bad.replace_range(17.., if good.ends_with('0') { "1" } else { "0" });
        assert!(!credit_code_valid(&bad));
    }
}
