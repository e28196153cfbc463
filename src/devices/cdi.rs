//! Terumo CDI 500/550 serial output, reached through a serial-to-BLE bridge (Nordic UART
//! Service): the byte stream arrives in arbitrary chunks, is reassembled here, and parsed in
//! packet mode (STX … ETX CR LF) or ASCII mode (tab-separated lines ending in CR, with a
//! repeating header). devices.md section 4.
//!
//! The CRC is a reflected CRC-8 with polynomial 0x85 (table in the operator manual); which bytes
//! it covers and its initial value are not confirmed, so a frame whose CRC does not match is
//! kept and marked questionable, never dropped. CDI values are trend data (Terumo field safety
//! notice on drift): every record says so.

use crate::domain::{Decimal, DeviceTime, Validity};

const STX: u8 = 0x02;
const ETX: u8 = 0x03;
/// Bytes kept while waiting for a frame end; beyond this the oldest are discarded (counted).
const MAX_PENDING: usize = 4096;

/// CDI parameter codes (packet mode) with their units as printed by the monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CdiParameter {
    ArterialPh,
    ArterialPco2,
    ArterialPo2,
    ArterialTemp,
    ArterialSo2,
    ArterialHco3,
    ArterialBe,
    Potassium,
    Vo2,
    VenousPh,
    VenousPco2,
    VenousPo2,
    VenousTemp,
    VenousSo2,
    VenousHco3,
    VenousBe,
    Hct,
    Hb,
}

impl CdiParameter {
    pub fn from_code(code: u8) -> Option<Self> {
        use CdiParameter::*;
        Some(match code {
            0x00 => ArterialPh,
            0x01 => ArterialPco2,
            0x02 => ArterialPo2,
            0x03 => ArterialTemp,
            0x04 => ArterialSo2,
            0x05 => ArterialHco3,
            0x06 => ArterialBe,
            0x07 => Potassium,
            0x08 => Vo2,
            0x09 => VenousPh,
            0x0A => VenousPco2,
            0x0B => VenousPo2,
            0x0C => VenousTemp,
            0x0D => VenousSo2,
            0x0E => VenousHco3,
            0x0F => VenousBe,
            0x10 => Hct,
            0x11 => Hb,
            _ => return None,
        })
    }

    /// The field's name in the parameter catalogue's `devices` ("cdi:<name>").
    pub fn name(self) -> &'static str {
        use CdiParameter::*;
        match self {
            ArterialPh => "arterial-ph",
            ArterialPco2 => "arterial-pco2",
            ArterialPo2 => "arterial-po2",
            ArterialTemp => "arterial-temp",
            ArterialSo2 => "arterial-so2",
            ArterialHco3 => "arterial-hco3",
            ArterialBe => "arterial-be",
            Potassium => "potassium",
            Vo2 => "vo2",
            VenousPh => "venous-ph",
            VenousPco2 => "venous-pco2",
            VenousPo2 => "venous-po2",
            VenousTemp => "venous-temp",
            VenousSo2 => "venous-so2",
            VenousHco3 => "venous-hco3",
            VenousBe => "venous-be",
            Hct => "hct",
            Hb => "hb",
        }
    }

    pub fn unit(self) -> &'static str {
        use CdiParameter::*;
        match self {
            ArterialPh | VenousPh => "[pH]",
            ArterialPco2 | ArterialPo2 | VenousPco2 | VenousPo2 => "mm[Hg]",
            ArterialTemp | VenousTemp => "Cel",
            ArterialSo2 | VenousSo2 | Hct => "%",
            ArterialHco3 | ArterialBe | VenousHco3 | VenousBe | Potassium => "mmol/L",
            Vo2 => "mL/min",
            Hb => "g/dL",
        }
    }
}

/// One CDI record.
#[derive(Debug, Clone, PartialEq)]
pub struct CdiRecord {
    /// The monitor prints only a time of day.
    pub device_time: DeviceTime,
    /// Each parameter with its value; `None` when the monitor printed dashes (out of range).
    pub values: Vec<(CdiParameter, Option<Decimal>)>,
    pub validity: Validity,
    /// Why the record is questionable, if it is.
    pub problems: Vec<String>,
    /// Always "trend data" for CDI.
    pub provenance: &'static str,
    pub raw: Vec<u8>,
}

/// A packet-mode frame as the monitor sends it (STX … ETX CR LF), with `data` as the ASCII
/// payload and our CRC over id..data: for the simulators and the tests.
pub fn packet(seq: u8, data: &str) -> Vec<u8> {
    let body = format!("X{seq:02X}{:04X}DA{data}", data.len());
    let crc = crc8(body.as_bytes());
    let mut f = vec![STX];
    f.extend_from_slice(body.as_bytes());
    f.extend_from_slice(format!("{crc:02X}").as_bytes());
    f.push(ETX);
    f.extend_from_slice(b"\r\n");
    f
}

/// Reflected CRC-8, polynomial 0x85 (0xA1 reflected), initial value 0.
pub fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &b in bytes {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA1
            } else {
                crc >> 1
            };
        }
    }
    crc
}

fn hex_u16(s: &[u8]) -> Option<u16> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|t| u16::from_str_radix(t, 16).ok())
}

fn time_of_day(s: &str) -> Option<DeviceTime> {
    let mut it = s.trim().split(':').map(|p| p.parse::<u8>().ok());
    let (h, m, sec) = (it.next()??, it.next()??, it.next()??);
    (h < 24 && m < 60 && sec < 60).then_some(DeviceTime::Partial {
        year: None,
        month: None,
        day: None,
        hour: h,
        minute: m,
        second: sec,
    })
}

fn value_text(v: &str) -> Result<Option<Decimal>, String> {
    let t = v.trim();
    if !t.is_empty() && t.chars().all(|c| c == '-' || c == ' ') {
        return Ok(None); // out of range on the monitor
    }
    t.parse::<Decimal>().map(Some).map_err(|e| e.to_string())
}

/// Parse one packet-mode frame (from STX to ETX inclusive).
pub fn parse_packet(frame: &[u8]) -> CdiRecord {
    let mut rec = CdiRecord {
        device_time: DeviceTime::Unknown,
        values: Vec::new(),
        validity: Validity::Valid,
        problems: Vec::new(),
        provenance: "trend data (CDI)",
        raw: frame.to_vec(),
    };
    let problem = |r: &mut CdiRecord, p: String| {
        r.problems.push(p);
        r.validity = Validity::Questionable;
    };
    // STX id seq(2) len(4) cmd sub data… crc(2) ETX
    if frame.len() < 13 || frame[0] != STX || frame[frame.len() - 1] != ETX {
        problem(
            &mut rec,
            format!(
                "frame of {} bytes is too short or not delimited",
                frame.len()
            ),
        );
        rec.validity = Validity::Invalid;
        return rec;
    }
    let body = &frame[1..frame.len() - 3];
    let crc_text = &frame[frame.len() - 3..frame.len() - 1];
    let data = &body[9..];
    match hex_u16(crc_text) {
        Some(c) if c as u8 == crc8(body) => {}
        Some(c) => problem(
            &mut rec,
            format!(
                "CRC {c:02X} does not match {:02X} (coverage unconfirmed)",
                crc8(body)
            ),
        ),
        None => problem(&mut rec, "CRC is not hex".into()),
    }
    if let Some(len) = hex_u16(&body[3..7]) {
        if usize::from(len) != data.len() {
            problem(
                &mut rec,
                format!("length field {len} but {} data bytes", data.len()),
            );
        }
    }
    let text = String::from_utf8_lossy(data);
    let mut fields = text.split('\t');
    match fields.next().and_then(time_of_day) {
        Some(t) => rec.device_time = t,
        None => problem(&mut rec, "no time of day".into()),
    }
    for f in fields.filter(|f| !f.trim().is_empty()) {
        let code = f.get(0..2).and_then(|c| u8::from_str_radix(c, 16).ok());
        let Some(param) = code.and_then(CdiParameter::from_code) else {
            problem(&mut rec, format!("unknown parameter field {f:?}"));
            continue;
        };
        match value_text(f.get(4..).unwrap_or("")) {
            Ok(v) => rec.values.push((param, v)),
            Err(e) => problem(&mut rec, format!("{param:?}: {e}")),
        }
    }
    rec
}

/// Something the stream produced.
#[derive(Debug, Clone, PartialEq)]
pub enum CdiOutput {
    Packet(CdiRecord),
    /// An ASCII-mode line, split on tabs (header lines included; see [`AsciiTable`]).
    Line(Vec<String>),
}

/// Reassembles the byte stream from the bridge, in whatever chunks BLE delivers it.
#[derive(Debug, Default)]
pub struct CdiStream {
    pending: Vec<u8>,
    /// Bytes discarded because they belonged to no frame or line (reported, not silent).
    pub discarded: u64,
}

impl CdiStream {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<CdiOutput> {
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::new();
        loop {
            if self.pending.first() == Some(&STX) {
                match self.pending.iter().position(|b| *b == ETX) {
                    Some(end) => {
                        let frame: Vec<u8> = self.pending.drain(..=end).collect();
                        out.push(CdiOutput::Packet(parse_packet(&frame)));
                        // The CR LF after ETX is part of the frame's trailer.
                        while matches!(self.pending.first(), Some(b'\r') | Some(b'\n')) {
                            self.pending.remove(0);
                        }
                    }
                    None => break,
                }
            } else if let Some(pos) = self
                .pending
                .iter()
                .position(|b| *b == b'\r' || *b == b'\n' || *b == STX)
            {
                if self.pending[pos] == STX {
                    // Bytes before a frame start that form no line.
                    self.discarded += pos as u64;
                    self.pending.drain(..pos);
                    continue;
                }
                let line: Vec<u8> = self.pending.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&line[..line.len() - 1])
                    .trim()
                    .to_string();
                if !text.is_empty() {
                    out.push(CdiOutput::Line(
                        text.split('\t').map(|s| s.trim().to_string()).collect(),
                    ));
                }
            } else {
                break;
            }
        }
        if self.pending.len() > MAX_PENDING {
            let drop = self.pending.len() - MAX_PENDING;
            self.pending.drain(..drop);
            self.discarded += drop as u64;
        }
        out
    }
}

/// One ASCII-mode data line: (column name, value; `None` when printed as dashes).
pub type AsciiRow = Vec<(String, Option<Decimal>)>;

/// ASCII mode: a header line names the columns; data lines follow; the header repeats every 50
/// lines.
#[derive(Debug, Default)]
pub struct AsciiTable {
    columns: Vec<String>,
}

impl AsciiTable {
    /// Feed a line; returns the (column, value) pairs of a data line. Values printed as dashes
    /// are `None`. `Err` for a data line before any header or with the wrong number of fields.
    pub fn line(&mut self, fields: &[String]) -> Result<Option<AsciiRow>, String> {
        // Data lines start with the time of day; anything else is a header.
        let looks_like_header = fields.first().is_none_or(|f| time_of_day(f).is_none());
        if looks_like_header {
            self.columns = fields.to_vec();
            return Ok(None);
        }
        if self.columns.is_empty() {
            return Err("data before the header line".into());
        }
        if fields.len() != self.columns.len() {
            return Err(format!(
                "{} fields, header has {}",
                fields.len(),
                self.columns.len()
            ));
        }
        let mut out = Vec::new();
        for (c, f) in self.columns.iter().zip(fields).skip(1) {
            out.push((c.clone(), value_text(f)?));
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as the monitor would send it, with our CRC over id..data.
    fn frame(data: &str, crc_ok: bool) -> Vec<u8> {
        let mut f = packet(1, data);
        if !crc_ok {
            // The two CRC hex digits sit just before ETX CR LF.
            let at = f.len() - 5;
            let crc = u8::from_str_radix(std::str::from_utf8(&f[at..at + 2]).unwrap(), 16).unwrap();
            f[at..at + 2].copy_from_slice(format!("{:02X}", crc ^ 0x5A).as_bytes());
        }
        f
    }

    const DATA: &str = "10:15:30\t0000 7.38\t0100 41\t0200 245\t0300 33.9\t0400 99\t0500 24.1\t0600 -1.2\t0700 4.5\t0800 ---\t0900 7.31\t0A00 48\t0B00 40\t0C00 33.1\t0D00 72\t0E00 23.9\t0F00 -2.0\t1000 27\t1100 9.0";

    #[test]
    fn the_manual_crc_table_is_a_reflected_crc8_with_polynomial_0x85() {
        // The manual's nibble table: entry n is the CRC register after shifting in nibble n,
        // i.e. the CRC of the byte n << 4.
        let table: Vec<u8> = (0u8..16).map(|n| crc8(&[n << 4])).collect();
        assert_eq!(
            table,
            vec![
                0x00, 0xCD, 0xD9, 0x14, 0xF1, 0x3C, 0x28, 0xE5, 0xA1, 0x6C, 0x78, 0xB5, 0x50, 0x9D,
                0x89, 0x44
            ]
        );
    }

    #[test]
    fn a_packet_parses_every_parameter_with_dashes_as_no_value() {
        let r = parse_packet(&frame(DATA, true)[..frame(DATA, true).len() - 2]);
        assert_eq!(r.validity, Validity::Valid, "{:?}", r.problems);
        assert_eq!(r.values.len(), 18);
        assert_eq!(
            r.values[0],
            (CdiParameter::ArterialPh, Some("7.38".parse().unwrap()))
        );
        assert_eq!(r.values[8], (CdiParameter::Vo2, None));
        assert_eq!(
            r.values[17],
            (CdiParameter::Hb, Some("9.0".parse().unwrap()))
        );
        assert_eq!(
            r.device_time,
            DeviceTime::Partial {
                year: None,
                month: None,
                day: None,
                hour: 10,
                minute: 15,
                second: 30
            }
        );
        assert_eq!(r.provenance, "trend data (CDI)");
    }

    #[test]
    fn a_bad_crc_keeps_the_record_and_marks_it_questionable() {
        let f = frame(DATA, false);
        let r = parse_packet(&f[..f.len() - 2]);
        assert_eq!(r.validity, Validity::Questionable);
        assert_eq!(r.values.len(), 18, "nothing dropped");
        assert!(r.problems[0].contains("CRC"), "{:?}", r.problems);
    }

    #[test]
    fn the_stream_reassembles_frames_split_anywhere_and_reports_garbage() {
        let mut bytes = b"noise".to_vec();
        bytes.extend(frame(DATA, true));
        bytes.extend(frame(&DATA.replace("10:15:30", "10:15:36"), true));
        for chunk in [1usize, 3, 20, 64, 1000] {
            let mut s = CdiStream::default();
            let mut out = Vec::new();
            for c in bytes.chunks(chunk) {
                out.extend(s.push(c));
            }
            let packets: Vec<_> = out
                .iter()
                .filter_map(|o| match o {
                    CdiOutput::Packet(p) => Some(p),
                    _ => None,
                })
                .collect();
            assert_eq!(packets.len(), 2, "chunk {chunk}");
            assert!(packets.iter().all(|p| p.validity == Validity::Valid));
            assert_eq!(s.discarded, 5, "the 5 bytes of noise are counted");
        }
        // Arbitrary bytes never panic and never grow the buffer without bound.
        let mut s = CdiStream::default();
        let mut x: u32 = 12345;
        for _ in 0..20_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let _ = s.push(&[(x >> 16) as u8, (x >> 8) as u8]);
        }
        assert!(s.pending.len() <= MAX_PENDING);
    }

    #[test]
    fn ascii_mode_uses_the_header_and_refuses_data_before_it() {
        let mut s = CdiStream::default();
        let lines: Vec<Vec<String>> = s
            .push(b"12:00:00\t7.40\t40\r\nTime\tpH\tpCO2\r\n12:00:06\t7.41\t---\r\n12:00:12\t7.42\r\n")
            .into_iter()
            .filter_map(|o| match o { CdiOutput::Line(l) => Some(l), _ => None })
            .collect();
        let mut t = AsciiTable::default();
        assert!(t.line(&lines[0]).is_err(), "data before the header");
        assert_eq!(t.line(&lines[1]).unwrap(), None);
        let row = t.line(&lines[2]).unwrap().unwrap();
        assert_eq!(
            row,
            vec![
                ("pH".to_string(), Some("7.41".parse().unwrap())),
                ("pCO2".to_string(), None)
            ]
        );
        assert!(t
            .line(&lines[3])
            .unwrap_err()
            .contains("2 fields, header has 3"));
    }
}
