//! Zones and the cell catalog (docs/semantics.md, "Areas and levels"): an operator-defined zone
//! is a set of cells, tracking areas or location areas, or a circle or polygon resolved
//! against a cell catalog in OpenCelliD CSV form (a cell belongs to a circle or polygon
//! when its position is inside).
//!
//! [`zone_membership`] keeps `(ZoneKey, ZoneId)` — which cells / TACs / LACs belong to
//! which zone — as a differential collection of the catalog and zone collections, so
//! that editing a zone or the catalog at runtime updates it incrementally. Geometric zones
//! meet catalog cells through a grid of [`TILE_DEG`]-degree tiles (a join on the tile,
//! then the exact containment test), so a change touches only the tiles it covers.
//! [`resolve`] is the same computation done once, in batch: the oracle of the tests.
//!
//! Moments at the zone level: [`crate::zone_detector`].

use std::collections::BTreeSet;
use std::io::Read;

use differential_dataflow::lattice::Lattice;
use differential_dataflow::VecCollection;
use geo::{Contains, Distance, Haversine, Point, Polygon};
use landfall_model::{Location, Plmn};
use serde::{Deserialize, Serialize};
use timely::progress::Timestamp;

/// Grid tile size for matching geometric zones with catalog cells, in degrees.
pub const TILE_DEG: f64 = 0.1;

/// A cell, as a catalog and a signal's location both name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CellKey {
    /// LTE: E-UTRAN cell identity within the PLMN.
    Lte { plmn: Plmn, eci: u32 },
    /// GSM (and UMTS service areas): LAC and cell identity (or SAC).
    Gsm { plmn: Plmn, lac: u16, ci: u32 },
    /// NR cell identity.
    Nr { plmn: Plmn, nci: u64 },
}

/// What a zone can be made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ZoneKey {
    Cell(CellKey),
    Tac { plmn: Plmn, tac: u16 },
    Lac { plmn: Plmn, lac: u16 },
}

impl ZoneKey {
    /// The keys a signal's location falls under: its cell (when it names one) and its
    /// tracking or location area (when known).
    pub fn of_location(l: &Location) -> Vec<ZoneKey> {
        ZoneKey::keys_of(l).into_iter().flatten().collect()
    }

    /// [`ZoneKey::of_location`] without allocating (the hot path of zone detection).
    pub fn keys_of(l: &Location) -> [Option<ZoneKey>; 2] {
        match *l {
            Location::Ecgi { plmn, eci } => [Some(ZoneKey::Cell(CellKey::Lte { plmn, eci })), None],
            Location::Ncgi { plmn, nci } => [Some(ZoneKey::Cell(CellKey::Nr { plmn, nci })), None],
            Location::Cgi { plmn, lac, ci } => [
                Some(ZoneKey::Cell(CellKey::Gsm {
                    plmn,
                    lac,
                    ci: u32::from(ci),
                })),
                Some(ZoneKey::Lac { plmn, lac }),
            ],
            Location::Sai { plmn, lac, sac } => [
                Some(ZoneKey::Cell(CellKey::Gsm {
                    plmn,
                    lac,
                    ci: u32::from(sac),
                })),
                Some(ZoneKey::Lac { plmn, lac }),
            ],
            Location::Tai { plmn, tac } => [Some(ZoneKey::Tac { plmn, tac }), None],
            Location::Lai { plmn, lac } | Location::Rai { plmn, lac, .. } => {
                [Some(ZoneKey::Lac { plmn, lac }), None]
            }
        }
    }
}

pub use landfall_model::zone::{ZoneId, ZoneIdError};

impl From<ZoneIdError> for ZonesError {
    fn from(e: ZoneIdError) -> Self {
        ZonesError(e.to_string())
    }
}

/// A position in degrees, stored in micro-degrees so zones and cells can be keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LonLat {
    pub lon_e6: i32,
    pub lat_e6: i32,
}

impl LonLat {
    pub fn new(lon: f64, lat: f64) -> LonLat {
        LonLat {
            lon_e6: (lon * 1e6).round() as i32,
            lat_e6: (lat * 1e6).round() as i32,
        }
    }

    fn point(&self) -> Point<f64> {
        Point::new(f64::from(self.lon_e6) / 1e6, f64::from(self.lat_e6) / 1e6)
    }

    fn tile(&self) -> (i32, i32) {
        let p = self.point();
        (
            (p.x() / TILE_DEG).floor() as i32,
            (p.y() / TILE_DEG).floor() as i32,
        )
    }
}

/// A cell of the catalog with its position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CatalogCell {
    pub cell: CellKey,
    pub at: LonLat,
}

/// The shape of a zone.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Shape {
    /// Explicit cells, TACs and LACs.
    Keys(Vec<ZoneKey>),
    /// Cells within `radius_m` metres of the centre.
    Circle { centre: LonLat, radius_m: u32 },
    /// Cells inside the polygon (exterior ring, closed or not).
    Polygon(Vec<LonLat>),
}

/// A zone definition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Zone {
    pub id: ZoneId,
    pub name: String,
    pub shape: Shape,
}

impl Zone {
    fn polygon(ring: &[LonLat]) -> Polygon<f64> {
        let coords: Vec<(f64, f64)> = ring
            .iter()
            .map(|p| (p.point().x(), p.point().y()))
            .collect();
        Polygon::new(coords.into(), vec![])
    }

    /// Does the zone's geometry contain `p`? (False for key-only zones.)
    pub fn contains(&self, p: &LonLat) -> bool {
        match &self.shape {
            Shape::Keys(_) => false,
            Shape::Circle { centre, radius_m } => {
                Haversine.distance(centre.point(), p.point()) <= f64::from(*radius_m)
            }
            Shape::Polygon(ring) => ring.len() >= 3 && Zone::polygon(ring).contains(&p.point()),
        }
    }

    /// The grid tiles the zone's geometry may touch (its bounding box).
    pub fn tiles(&self) -> Vec<(i32, i32)> {
        let (min, max) = match &self.shape {
            Shape::Keys(_) => return Vec::new(),
            Shape::Circle { centre, radius_m } => {
                let c = centre.point();
                // Degrees of latitude per metre, and of longitude at this latitude.
                let dlat = f64::from(*radius_m) / 111_320.0;
                let dlon = dlat / c.y().to_radians().cos().abs().max(1e-6);
                (
                    LonLat::new(c.x() - dlon, c.y() - dlat),
                    LonLat::new(c.x() + dlon, c.y() + dlat),
                )
            }
            Shape::Polygon(ring) if !ring.is_empty() => {
                let lon = ring.iter().map(|p| p.lon_e6);
                let lat = ring.iter().map(|p| p.lat_e6);
                (
                    LonLat {
                        lon_e6: lon.clone().min().unwrap_or(0),
                        lat_e6: lat.clone().min().unwrap_or(0),
                    },
                    LonLat {
                        lon_e6: lon.max().unwrap_or(0),
                        lat_e6: lat.max().unwrap_or(0),
                    },
                )
            }
            Shape::Polygon(_) => return Vec::new(),
        };
        let ((x0, y0), (x1, y1)) = (min.tile(), max.tile());
        // A zone spanning more than 10,000 tiles (about 100,000 km²) is cut off there.
        let mut out = Vec::new();
        for x in x0..=x1 {
            for y in y0..=y1 {
                if out.len() >= 10_000 {
                    return out;
                }
                out.push((x, y));
            }
        }
        out
    }
}

/// Batch resolution: every (key, zone) pair the definitions give over `catalog`.
pub fn resolve(zones: &[Zone], catalog: &[CatalogCell]) -> BTreeSet<(ZoneKey, ZoneId)> {
    let mut out = BTreeSet::new();
    for z in zones {
        match &z.shape {
            Shape::Keys(keys) => {
                out.extend(keys.iter().map(|k| (*k, z.id)));
            }
            _ => {
                let tiles: BTreeSet<(i32, i32)> = z.tiles().into_iter().collect();
                for c in catalog {
                    if tiles.contains(&c.at.tile()) && z.contains(&c.at) {
                        out.insert((ZoneKey::Cell(c.cell), z.id));
                    }
                }
            }
        }
    }
    out
}

/// `(key, zone)` membership, maintained incrementally from the catalog and zone
/// collections (each pair once, however many ways it is reached). Both inputs are sets
/// edited over time: an item is retracted only while present (a retraction with no
/// insertion before it would count as presence here).
pub fn zone_membership<'scope, T>(
    catalog: VecCollection<'scope, T, CatalogCell>,
    zones: VecCollection<'scope, T, Zone>,
) -> VecCollection<'scope, T, (ZoneKey, ZoneId)>
where
    T: Timestamp + Lattice + Ord,
{
    let explicit = zones.clone().flat_map(|z| match z.shape {
        Shape::Keys(keys) => keys.into_iter().map(|k| (k, z.id)).collect(),
        _ => Vec::new(),
    });
    let by_tile = zones.flat_map(|z| z.tiles().into_iter().map(move |t| (t, z.clone())));
    let geometric = catalog
        .map(|c| (c.at.tile(), c))
        .join_map(by_tile, |_tile, c, z| {
            z.contains(&c.at).then_some((ZoneKey::Cell(c.cell), z.id))
        })
        .flat_map(|x| x);
    explicit.concat(geometric).distinct()
}

/// An error reading zones or the catalog, with where it happened.
#[derive(Debug)]
pub struct ZonesError(pub String);

impl std::fmt::Display for ZonesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ZonesError {}

/// What to do with a catalog row that cannot be read (wrong columns, a non-numeric or
/// out-of-range value).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BadRows {
    /// The first bad row fails the read, naming its line.
    #[default]
    Reject,
    /// Bad rows are skipped and counted, the first few kept as examples.
    Skip,
}

/// A catalog as read: its cells, the rows of radio types that have no cell key here
/// (CDMA: valid rows, not used), and the bad rows skipped under [`BadRows::Skip`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    pub cells: Vec<CatalogCell>,
    /// Rows of other radio types (CDMA), ignored.
    pub other_radio: u64,
    /// Bad rows skipped ([`BadRows::Skip`]).
    pub bad: u64,
    /// The first [`BAD_ROW_EXAMPLES`] bad rows, as `line N: what is wrong`.
    pub bad_examples: Vec<String>,
}

/// How many bad rows a [`Catalog`] keeps as examples.
pub const BAD_ROW_EXAMPLES: usize = 5;

/// Columns of an OpenCelliD row that landfall reads (radio … lat); later ones are optional.
const CATALOG_COLUMNS: usize = 8;

/// One catalog row: a cell, a row of another radio type, or what is wrong with it.
fn catalog_row(row: &csv::StringRecord) -> Result<Option<CatalogCell>, String> {
    if row.len() < CATALOG_COLUMNS {
        return Err(format!(
            "{} columns, expected at least {CATALOG_COLUMNS} (radio,mcc,net,area,cell,unit,lon,lat,…)",
            row.len()
        ));
    }
    let field = |n: usize| row.get(n).unwrap_or("").trim();
    fn num<T: std::str::FromStr>(v: &str, name: &str) -> Result<T, String> {
        v.parse()
            .map_err(|_| format!("{name} {v:?} is not a number in range"))
    }
    let radio = field(0);
    if radio == "CDMA" {
        return Ok(None);
    }
    let mcc: u16 = num(field(1), "mcc")?;
    let net: u16 = num(field(2), "net")?;
    let area: u32 = num(field(3), "area")?;
    let cell: u64 = num(field(4), "cell")?;
    let lon: f64 = num(field(6), "lon")?;
    let lat: f64 = num(field(7), "lat")?;
    if mcc > 999 || net > 999 {
        return Err(format!("mcc {mcc} or net {net} above 999"));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(format!("lon {lon} outside -180..180"));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(format!("lat {lat} outside -90..90"));
    }
    let plmn = Plmn::new(mcc, net, if net > 99 { 3 } else { 2 });
    let key = match radio {
        "LTE" => CellKey::Lte {
            plmn,
            eci: u32::try_from(cell).map_err(|_| format!("LTE cell {cell} above 2^32"))?,
        },
        "GSM" | "UMTS" => CellKey::Gsm {
            plmn,
            lac: u16::try_from(area)
                .map_err(|_| format!("{radio} area (LAC) {area} above 65535"))?,
            ci: u32::try_from(cell).map_err(|_| format!("{radio} cell {cell} above 2^32"))?,
        },
        "NR" => CellKey::Nr { plmn, nci: cell },
        other => {
            return Err(format!(
                "unknown radio {other:?} (GSM, UMTS, LTE, NR or CDMA)"
            ))
        }
    };
    Ok(Some(CatalogCell {
        cell: key,
        at: LonLat::new(lon, lat),
    }))
}

/// Read an OpenCelliD CSV (`radio,mcc,net,area,cell,unit,lon,lat,range,…`, with or without
/// the header line). A bad row fails the read or is skipped, as `bad_rows` says; CDMA rows
/// are counted and ignored.
pub fn read_catalog(reader: impl Read, bad_rows: BadRows) -> Result<Catalog, ZonesError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut catalog = Catalog::default();
    for (i, row) in rdr.records().enumerate() {
        let line = row
            .as_ref()
            .ok()
            .and_then(|r| r.position())
            .map_or(i as u64 + 1, |p| p.line());
        let row = row.map_err(|e| ZonesError(format!("catalog line {line}: {e}")))?;
        if i == 0 && row.get(0).map(str::trim) == Some("radio") {
            continue;
        }
        match catalog_row(&row) {
            Ok(Some(c)) => catalog.cells.push(c),
            Ok(None) => catalog.other_radio += 1,
            Err(why) => {
                let what = format!("line {line}: {why}");
                if bad_rows == BadRows::Reject {
                    return Err(ZonesError(format!("catalog {what}")));
                }
                catalog.bad += 1;
                if catalog.bad_examples.len() < BAD_ROW_EXAMPLES {
                    catalog.bad_examples.push(what);
                }
            }
        }
    }
    Ok(catalog)
}

#[derive(Deserialize)]
struct ZoneFile {
    #[serde(default)]
    zone: Vec<ZoneToml>,
}

#[derive(Deserialize)]
struct ZoneToml {
    id: String,
    #[serde(default)]
    name: String,
    /// "MCC-MNC/ecgi/ECI", "MCC-MNC/cgi/LAC/CI", "MCC-MNC/nci/NCI".
    #[serde(default)]
    cells: Vec<String>,
    /// "MCC-MNC/TAC".
    #[serde(default)]
    tacs: Vec<String>,
    /// "MCC-MNC/LAC".
    #[serde(default)]
    lacs: Vec<String>,
    circle: Option<CircleToml>,
    /// `[[lon, lat], …]`.
    polygon: Option<Vec<[f64; 2]>>,
}

#[derive(Deserialize)]
struct CircleToml {
    lon: f64,
    lat: f64,
    radius_m: u32,
}

fn parse_key(kind: &str, s: &str) -> Option<ZoneKey> {
    let mut parts = s.split('/');
    let plmn = Plmn::parse(parts.next()?)?;
    let rest: Vec<&str> = parts.collect();
    let n = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(match (kind, rest.first().copied()) {
        ("cell", Some("ecgi")) => ZoneKey::Cell(CellKey::Lte {
            plmn,
            eci: u32::try_from(n(1)?).ok()?,
        }),
        ("cell", Some("cgi")) => ZoneKey::Cell(CellKey::Gsm {
            plmn,
            lac: u16::try_from(n(1)?).ok()?,
            ci: u32::try_from(n(2)?).ok()?,
        }),
        ("cell", Some("nci")) => ZoneKey::Cell(CellKey::Nr { plmn, nci: n(1)? }),
        ("tac", _) => ZoneKey::Tac {
            plmn,
            tac: u16::try_from(n(0)?).ok()?,
        },
        ("lac", _) => ZoneKey::Lac {
            plmn,
            lac: u16::try_from(n(0)?).ok()?,
        },
        _ => return None,
    })
}

/// Read zones from TOML: `[[zone]]` tables with `id`, `name` and one of `cells` / `tacs` /
/// `lacs` (lists), `circle = { lon, lat, radius_m }` or `polygon = [[lon, lat], …]`.
pub fn read_zones(text: &str) -> Result<Vec<Zone>, ZonesError> {
    let file: ZoneFile = toml::from_str(text).map_err(|e| ZonesError(format!("zones: {e}")))?;
    let mut out = Vec::new();
    for z in file.zone {
        let bad = |what: &str, v: &str| ZonesError(format!("zone {}: bad {what} {v:?}", z.id));
        let shape = if let Some(c) = &z.circle {
            Shape::Circle {
                centre: LonLat::new(c.lon, c.lat),
                radius_m: c.radius_m,
            }
        } else if let Some(p) = &z.polygon {
            if p.len() < 3 {
                return Err(ZonesError(format!(
                    "zone {}: a polygon needs 3 points",
                    z.id
                )));
            }
            Shape::Polygon(p.iter().map(|[lon, lat]| LonLat::new(*lon, *lat)).collect())
        } else {
            let mut keys = Vec::new();
            for (kind, list) in [("cell", &z.cells), ("tac", &z.tacs), ("lac", &z.lacs)] {
                for v in list {
                    keys.push(parse_key(kind, v).ok_or_else(|| bad(kind, v))?);
                }
            }
            if keys.is_empty() {
                return Err(ZonesError(format!(
                    "zone {}: no cells, tacs, lacs, circle or polygon",
                    z.id
                )));
            }
            Shape::Keys(keys)
        };
        out.push(Zone {
            name: if z.name.is_empty() {
                z.id.clone()
            } else {
                z.name.clone()
            },
            id: ZoneId::new(&z.id)?,
            shape,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONES: &str = r#"
[[zone]]
id = "cdg"
name = "Paris CDG"
circle = { lon = 2.55, lat = 49.0097, radius_m = 3000 }

[[zone]]
id = "gare-de-lyon"
cells = ["208-01/ecgi/1234501", "208-01/cgi/1001/2002"]
tacs = ["208-01/257"]

[[zone]]
id = "paris-centre"
polygon = [[2.30, 48.84], [2.38, 48.84], [2.38, 48.88], [2.30, 48.88]]
"#;

    const CATALOG: &str = "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal
LTE,208,1,257,1234501,,2.3730,48.8443,1000,10,1,0,0,0
LTE,208,1,300,555,,2.5500,49.0100,1000,10,1,0,0,0
GSM,208,1,1001,2002,,2.9000,49.5000,1000,10,1,0,0,0
LTE,208,1,300,556,,2.7000,49.0100,1000,10,1,0,0,0
CDMA,310,1,1,1,,0,0,0,0,0,0,0,0
LTE,208,1,300,557,,999,0,0,0,0,0,0,0
";

    #[test]
    fn zones_resolve_by_keys_circles_and_polygons() {
        let zones = read_zones(ZONES).unwrap();
        let read = read_catalog(CATALOG.as_bytes(), BadRows::Skip).unwrap();
        assert_eq!((read.cells.len(), read.other_radio, read.bad), (4, 1, 1));
        assert_eq!(read.bad_examples, ["line 7: lon 999 outside -180..180"]);
        let got = resolve(&zones, &read.cells);
        let plmn = Plmn::new(208, 1, 2);
        let lte = |eci| ZoneKey::Cell(CellKey::Lte { plmn, eci });
        let z = |s: &str| ZoneId::new(s).unwrap();
        assert!(got.contains(&(lte(555), z("cdg"))), "{got:?}");
        assert!(!got.contains(&(lte(556), z("cdg"))), "11 km away: {got:?}");
        assert!(got.contains(&(lte(1234501), z("paris-centre"))));
        assert!(got.contains(&(lte(1234501), z("gare-de-lyon"))));
        assert!(got.contains(&(ZoneKey::Tac { plmn, tac: 257 }, z("gare-de-lyon"))));
        assert_eq!(got.len(), 5, "{got:?}");
        // A signal's ECGI finds its cell's zones.
        let keys = ZoneKey::of_location(&Location::Ecgi { plmn, eci: 1234501 });
        assert_eq!(keys, vec![lte(1234501)]);
    }

    #[test]
    fn bad_catalog_rows_are_errors_with_their_line() {
        let e = read_catalog(CATALOG.as_bytes(), BadRows::Reject).unwrap_err();
        assert_eq!(e.0, "catalog line 7: lon 999 outside -180..180");
        let cases = [
            ("LTE,208,1,300\n", "line 1: 4 columns, expected at least 8"),
            (
                "LTE,208,1,300,555,,2.5,north\n",
                "line 1: lat \"north\" is not a number",
            ),
            (
                "LTE,208,x,300,555,,2.5,49\n",
                "line 1: net \"x\" is not a number",
            ),
            (
                "WIMAX,208,1,300,555,,2.5,49\n",
                "line 1: unknown radio \"WIMAX\"",
            ),
            (
                "GSM,208,1,70000,555,,2.5,49\n",
                "line 1: GSM area (LAC) 70000 above 65535",
            ),
            (
                "LTE,208,1,1,1,,2.5,49\nLTE,208,1,300,555,,2.5,95\n",
                "line 2: lat 95 outside",
            ),
        ];
        for (csv, want) in cases {
            let e = read_catalog(csv.as_bytes(), BadRows::Reject).unwrap_err();
            assert!(e.0.starts_with(&format!("catalog {want}")), "{csv:?}: {e}");
            let read = read_catalog(csv.as_bytes(), BadRows::Skip).unwrap();
            assert_eq!(read.bad, 1, "{csv:?}");
            assert!(read.bad_examples[0].starts_with(want), "{csv:?}: {read:?}");
        }
        // Only the first few bad rows are kept as examples; all are counted.
        let many = "LTE,1\n".repeat(BAD_ROW_EXAMPLES + 3);
        let read = read_catalog(many.as_bytes(), BadRows::Skip).unwrap();
        assert_eq!(
            (read.bad, read.bad_examples.len()),
            (BAD_ROW_EXAMPLES as u64 + 3, BAD_ROW_EXAMPLES)
        );
        assert_eq!(
            read.bad_examples[2],
            "line 3: 2 columns, expected at least 8 (radio,mcc,net,area,cell,unit,lon,lat,…)"
        );
    }

    #[test]
    fn bad_zone_files_are_errors_with_the_zone() {
        let e = read_zones("[[zone]]\nid = \"x\"\ncells = [\"208-01/ecgi/abc\"]\n").unwrap_err();
        assert!(e.0.contains("zone x"), "{e}");
        assert!(read_zones("[[zone]]\nid = \"y\"\n").is_err());
        assert!(read_zones("[[zone]]\nid = \"z\"\npolygon = [[1.0, 2.0]]\n").is_err());
    }
}
