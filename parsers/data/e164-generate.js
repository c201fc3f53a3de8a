const lp = require('libphonenumber-js/max');
const meta = require('libphonenumber-js/metadata.max.json');
const Metadata = require('libphonenumber-js/core').Metadata;
const m = new Metadata(meta);
const out = [];
const ccs = meta.country_calling_codes;
for (const cc of Object.keys(ccs).sort((a,b)=>a.localeCompare(b))) {
  const regions = ccs[cc];
  out.push([cc, regions[0], 'main country of +' + cc]);
  for (const r of regions.slice(1)) {
    m.selectNumberingPlan(r);
    const ld = m.numberingPlan.leadingDigits && m.numberingPlan.leadingDigits();
    if (ld && /^[0-9|]+$/.test(ld)) {
      for (const p of ld.split('|')) out.push([cc + p, r, 'leading digits']);
    }
  }
}
// NANP: classify every area code by the region whose number patterns accept it.
const seen = new Set(out.map(x => x[0]));
for (let npa = 200; npa <= 999; npa++) {
  let region;
  for (const sub of ['2345678','5550100','2125555','4567890','3456789','7654321','8675309']) {
    try { const p = lp.parsePhoneNumber('+1' + npa + sub); if (p && p.country && p.isValid()) { region = p.country; break; } } catch (e) {}
  }
  if (region && region !== 'US' && !seen.has('1' + npa)) out.push(['1' + npa, region, 'NANP area code']);
}
for (const [p, r, why] of out) console.log(`${p}\t${r}\t${why}`);
