//! The 5G SA side of the scenarios: an AMF of the visited network registering a roamer
//! with the home UDM through the SEPPs (N32), each captured hop an HTTP/2 cleartext
//! connection on TCP 7777 carrying the same Nudm UECM requests (as an SEPP relays them:
//! same method, path and body).

use std::io;
use std::net::Ipv4Addr;

use landfall_parsers::Imsi;

use super::endpoints::{Dir, TcpConn, TcpPath, Wire};
use super::{ORANGE_FR, SECOND, VODAFONE_IT};
use crate::sbi::{
    amf_3gpp_registration_path, amf_purge, amf_registration, json, H2Connection, Request,
};

/// The SBI port of the scenario's network functions (open5gs's default).
pub(crate) const SBI_PORT: u16 = 7777;
/// The visited AMF's id within its GUAMI (region 0xca, set and pointer 0xfe01).
const AMF_ID: &str = "cafe01";
/// N32: from a request on the first hop to its copy on the second, and back.
const N32_DELAY_US: i64 = 3_000;
/// The UDM's answer time.
const UDM_DELAY_US: i64 = 2_000;

/// One captured hop: its TCP connection and its HTTP/2 state.
struct Hop {
    tcp: TcpConn,
    h2: H2Connection,
}

impl Hop {
    fn new(client: (Ipv4Addr, u16, u32), server: (Ipv4Addr, u32)) -> Hop {
        Hop {
            tcp: TcpConn {
                up: TcpPath {
                    src: client.0,
                    port: client.1,
                    seq: client.2,
                },
                down: TcpPath {
                    src: server.0,
                    port: SBI_PORT,
                    seq: server.1,
                },
            },
            h2: H2Connection::default(),
        }
    }

    /// Handshake, then the client's preface and SETTINGS, the server's SETTINGS and ack,
    /// the client's ack (200 µs apart).
    fn open(&mut self, w: &mut Wire, t: i64) -> io::Result<()> {
        w.tcp_handshake(t, &mut self.tcp)?;
        let preface = self.h2.client_preface();
        w.tcp(t + 600, &mut self.tcp, Dir::Up, &preface)?;
        let settings = self.h2.server_preface();
        w.tcp(t + 800, &mut self.tcp, Dir::Down, &settings)?;
        let ack = self.h2.client_settings_ack();
        w.tcp(t + 1_000, &mut self.tcp, Dir::Up, &ack)
    }
}

/// A UECM request relayed over both hops at `t` and its answer from the UDM, relayed back:
/// AMF → vSEPP, hSEPP → UDM, UDM → hSEPP, vSEPP → AMF.
fn relayed(
    w: &mut Wire,
    hops: &mut [Hop; 2],
    t: i64,
    req: &Request<'_>,
    (status, location, body): (u16, Option<&str>, Option<&[u8]>),
) -> io::Result<()> {
    let mut streams = [0u32; 2];
    for (k, hop) in hops.iter_mut().enumerate() {
        let (stream, bytes) = hop.h2.request(req);
        streams[k] = stream;
        w.tcp(t + k as i64 * N32_DELAY_US, &mut hop.tcp, Dir::Up, &bytes)?;
    }
    let answered = t + N32_DELAY_US + UDM_DELAY_US;
    for (k, hop) in hops.iter_mut().enumerate().rev() {
        let bytes = hop.h2.response(streams[k], status, location, body);
        let at = answered + (1 - k as i64) * N32_DELAY_US;
        w.tcp(at, &mut hop.tcp, Dir::Down, &bytes)?;
    }
    Ok(())
}

/// Lia (222-10, Vodafone Italia) registers over NR with the AMF of 208-01 at
/// `register_at` (initial registration, answered 201 with the registration) and is purged
/// at `purge_at` (PATCH purgeFlag, answered 204).
pub(crate) fn inbound_roamer(w: &mut Wire, register_at: i64, purge_at: i64) -> io::Result<()> {
    let lia = Imsi::parse("222100000000007").expect("IMSI");
    let amf = Ipv4Addr::new(10, 20, 4, 1);
    let vsepp = Ipv4Addr::new(10, 20, 4, 10);
    let hsepp = Ipv4Addr::new(10, 40, 0, 10);
    let udm = Ipv4Addr::new(10, 40, 0, 20);
    let mut hops = [
        Hop::new((amf, 41_001, 3_100_000), (vsepp, 3_200_000)),
        Hop::new((hsepp, 42_001, 4_100_000), (udm, 4_200_000)),
    ];
    for (k, hop) in hops.iter_mut().enumerate() {
        hop.open(w, register_at - SECOND + k as i64 * 5_000)?;
    }
    // The home UDM as the SEPPs address it.
    let udm_authority = format!(
        "udm.5gc.mnc{:03}.mcc{:03}.3gppnetwork.org",
        VODAFONE_IT.mnc, VODAFONE_IT.mcc
    );
    let path = amf_3gpp_registration_path(&lia);
    let registration = json(&amf_registration(ORANGE_FR, AMF_ID, true));
    let put = Request {
        method: "PUT",
        authority: &udm_authority,
        path: &path,
        body: Some(&registration),
    };
    let location = format!("http://{udm_authority}{path}");
    relayed(
        w,
        &mut hops,
        register_at,
        &put,
        (201, Some(&location), Some(&registration)),
    )?;
    let purge = json(&amf_purge(ORANGE_FR, AMF_ID));
    let patch = Request {
        method: "PATCH",
        authority: &udm_authority,
        path: &path,
        body: Some(&purge),
    };
    relayed(w, &mut hops, purge_at, &patch, (204, None, None))
}
