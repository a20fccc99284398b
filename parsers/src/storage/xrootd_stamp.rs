//! The `YYMMDD HH:MM:SS[.uuuuuu]` time stamp that `XrdSysLogger::TimeStamp` writes at the start
//! of every xrootd.log line (and that EOS, an XRootD plug-in, keeps in its xrdlog files): local
//! time, two-digit year, optional microseconds with hi-res logging.

use nom::bytes::complete::take_while_m_n;
use nom::character::complete::{char, digit1};
use nom::combinator::{map_res, opt};
use nom::sequence::preceded;
use nom::{IResult, Parser};

use crate::event::Timestamp;
use crate::time::{expand_two_digit_year, TimeContext};

/// The parts of a time stamp as printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalStamp {
    pub year: u32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl LocalStamp {
    /// The UTC instant, read in the stream's zone; `None` for out-of-range parts.
    pub fn to_utc(&self, context: &TimeContext) -> Option<Timestamp> {
        context.local_parts(
            expand_two_digit_year(self.year),
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.millis,
        )
    }
}

fn two_digits(input: &str) -> IResult<&str, u32> {
    map_res(
        take_while_m_n(2, 2, |c: char| c.is_ascii_digit()),
        |d: &str| d.parse::<u32>(),
    )
    .parse(input)
}

/// `YYMMDD HH:MM:SS[.uuuuuu]` followed by one space; returns the rest of the line.
pub fn stamp(input: &str) -> IResult<&str, LocalStamp> {
    let (rest, (year, month, day, _, hour, _, minute, _, second, fraction, _)) = (
        two_digits,
        two_digits,
        two_digits,
        char(' '),
        two_digits,
        char(':'),
        two_digits,
        char(':'),
        two_digits,
        opt(preceded(char('.'), digit1)),
        char(' '),
    )
        .parse(input)?;
    let millis = fraction
        .map(|digits: &str| {
            // Microseconds (or fewer digits): the first three digits are the milliseconds.
            let padded = format!("{:0<3}", digits.get(..3).unwrap_or(digits));
            padded.parse::<u32>().unwrap_or(0)
        })
        .unwrap_or(0);
    Ok((
        rest,
        LocalStamp {
            year,
            month,
            day,
            hour,
            minute,
            second,
            millis,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plain_and_hi_res_stamps() {
        let (rest, parts) = stamp("240612 14:03:22 4711 x").unwrap();
        assert_eq!(rest, "4711 x");
        assert_eq!((parts.year, parts.month, parts.day), (24, 6, 12));
        assert_eq!(parts.millis, 0);
        let (rest, parts) = stamp("240612 14:03:22.123456 4711 x").unwrap();
        assert_eq!(rest, "4711 x");
        assert_eq!(parts.millis, 123);
    }

    #[test]
    fn rejects_other_date_forms() {
        for text in [
            "06/12/24 14:03:22 x",
            "06.12 14:03:24 [pool",
            "2024-06-12 14:03:22 x",
            "240612 14:03",
            "240612 14:03:22",
        ] {
            assert!(stamp(text).is_err(), "{text}");
        }
    }
}
