//! The zones' geometry for the console's map (`GET /v1/operator/zones`): circles as centre
//! and radius, polygons as their ring, zones made of cells (or LACs) as the convex hull
//! of their cells' catalog positions (geo's `ConvexHull`). A cell-set zone none of whose
//! cells is in the catalog (or one of TACs only: the catalog has no TAC of LTE cells) has
//! no geometry and is listed with `"shape": "cells"` and no `ring`.

use geo::{ConvexHull, MultiPoint, Point};
use landfall_dataflows::zones::{CatalogCell, CellKey, LonLat, Shape, Zone, ZoneKey};
use serde_json::{json, Value};

fn deg(p: &LonLat) -> [f64; 2] {
    [f64::from(p.lon_e6) / 1e6, f64::from(p.lat_e6) / 1e6]
}

/// Whether `key` covers catalog cell `cell`.
fn covers(key: &ZoneKey, cell: &CellKey) -> bool {
    match (key, cell) {
        (ZoneKey::Cell(k), c) => k == c,
        (
            ZoneKey::Lac { plmn, lac },
            CellKey::Gsm {
                plmn: p, lac: l, ..
            },
        ) => plmn == p && lac == l,
        _ => false,
    }
}

/// The geometry of every zone.
pub fn geometry(zones: &[Zone], catalog: &[CatalogCell]) -> Value {
    let list: Vec<Value> = zones
        .iter()
        .map(|z| match &z.shape {
            Shape::Circle { centre, radius_m } => json!({
                "id": z.id.to_string(), "name": z.name, "shape": "circle",
                "centre": deg(centre), "radius_m": radius_m,
            }),
            Shape::Polygon(ring) => json!({
                "id": z.id.to_string(), "name": z.name, "shape": "polygon",
                "ring": ring.iter().map(deg).collect::<Vec<_>>(),
            }),
            Shape::Keys(keys) => {
                let points: Vec<Point<f64>> = catalog
                    .iter()
                    .filter(|c| keys.iter().any(|k| covers(k, &c.cell)))
                    .map(|c| {
                        let [x, y] = deg(&c.at);
                        Point::new(x, y)
                    })
                    .collect();
                let cells = points.len();
                let ring: Option<Vec<[f64; 2]>> = (!points.is_empty()).then(|| {
                    MultiPoint::from(points)
                        .convex_hull()
                        .exterior()
                        .points()
                        .map(|p| [p.x(), p.y()])
                        .collect()
                });
                json!({
                    "id": z.id.to_string(), "name": z.name, "shape": "cells",
                    "cells": cells, "ring": ring,
                })
            }
        })
        .collect();
    json!({ "zones": list })
}

#[cfg(test)]
mod tests {
    use super::*;
    use landfall_dataflows::zones::{read_catalog, read_zones, BadRows};

    #[test]
    fn the_fixture_zones_have_their_geometry() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/");
        let zones =
            read_zones(&std::fs::read_to_string(format!("{root}zones.toml")).unwrap()).unwrap();
        let catalog = read_catalog(
            std::fs::File::open(format!("{root}cells.csv")).unwrap(),
            BadRows::Reject,
        )
        .unwrap();
        let g = geometry(&zones, &catalog.cells);
        let list = g["zones"].as_array().unwrap();
        assert_eq!(list.len(), 3);
        let by_id = |id: &str| list.iter().find(|z| z["id"] == id).unwrap().clone();
        assert_eq!(by_id("cdg-t2")["shape"], "circle");
        assert_eq!(by_id("cdg-t2")["radius_m"], 800);
        assert_eq!(by_id("paris-centre")["ring"].as_array().unwrap().len(), 4);
        let cells = by_id("cdg-arrivals");
        assert_eq!(cells["shape"], "cells");
        assert_eq!(cells["cells"], 1);
        // One cell: a degenerate hull at the cell's position, closed.
        let ring = cells["ring"].as_array().unwrap();
        assert!(!ring.is_empty());
        let lat = ring[0][1].as_f64().unwrap();
        assert!((48.0..50.0).contains(&lat), "{lat}");
    }
}
