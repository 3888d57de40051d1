//! The demo province's map: Zhejiang's 11 cities with their real codes and about 90 counties
//! in the real 6-digit format (the real codes and names where the demo uses them, numbered
//! districts elsewhere).

/// A county of the province.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct County {
    /// 6-digit division code.
    pub code: String,
    /// Name.
    pub name: String,
}

impl County {
    /// The 4-digit prefix of its city.
    pub fn city_prefix(&self) -> &str {
        &self.code[..4]
    }
}

/// The province's code.
pub const PROVINCE: (&str, &str) = ("330000", "浙江省");

/// The cities: code and name.
pub const CITIES: [(&str, &str); 11] = [
    ("330100", "杭州市"),
    ("330200", "宁波市"),
    ("330300", "温州市"),
    ("330400", "嘉兴市"),
    ("330500", "湖州市"),
    ("330600", "绍兴市"),
    ("330700", "金华市"),
    ("330800", "衢州市"),
    ("330900", "舟山市"),
    ("331000", "台州市"),
    ("331100", "丽水市"),
];

/// Counties whose real names the demo uses.
const NAMED: [(&str, &str); 6] = [
    ("330102", "上城区"),
    ("330103", "下城区"),
    ("330105", "拱墅区"),
    ("330106", "西湖区"),
    ("330108", "滨江区"),
    ("330203", "海曙区"),
];

const NUMERALS: [&str; 10] = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];

/// The 90 counties: 9 in each of the two largest cities, 8 in the others.
pub fn counties() -> Vec<County> {
    let mut out = Vec::new();
    for (i, (city, city_name)) in CITIES.iter().enumerate() {
        let numbers: Vec<u32> = if i == 0 {
            vec![2, 3, 5, 6, 8, 9, 10, 11, 12]
        } else if i == 1 {
            (2..=10).collect()
        } else {
            (2..=9).collect()
        };
        let short = city_name.trim_end_matches('市');
        for (k, n) in numbers.into_iter().enumerate() {
            let code = format!("{}{n:02}", &city[..4]);
            let name = NAMED
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, name)| name.to_string())
                .unwrap_or_else(|| format!("{short}{}区", NUMERALS[k % 10]));
            out.push(County { code, name });
        }
    }
    out
}

/// `regions.csv` for `supervise regions load`: the province, its cities and counties.
pub fn regions_csv() -> String {
    let mut csv = String::from("code,name,level,parent\n");
    csv.push_str(&format!("{},{},province,\n", PROVINCE.0, PROVINCE.1));
    for (code, name) in CITIES {
        csv.push_str(&format!("{code},{name},city,{}\n", PROVINCE.0));
    }
    for c in counties() {
        csv.push_str(&format!(
            "{},{},county,{}00\n",
            c.code,
            c.name,
            c.city_prefix()
        ));
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ninety_counties_under_eleven_cities() {
        let all = counties();
        assert_eq!(all.len(), 90);
        let mut codes: Vec<&str> = all.iter().map(|c| c.code.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 90, "codes are unique");
        assert!(all.iter().all(|c| crate::datasets::region::level(&c.code)
            == Ok(crate::datasets::region::Level::County)));
        assert!(all.iter().any(|c| c.code == "330102" && c.name == "上城区"));
        assert_eq!(regions_csv().lines().count(), 1 + 1 + 11 + 90);
    }
}
