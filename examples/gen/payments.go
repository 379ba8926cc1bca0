package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// payment is one card event of the payments data set.
type payment struct {
	ts                            time.Time
	event, card, device, merchant string
	name, channel, cardCountry    string
	merchantCountry, ip           string
	mcc, offset                   int
	amount                        float64
	threeDS                       bool
	issued, deviceSeen            time.Time
	fraud                         bool
	hasDeviceSeen                 bool
}

// cardholder is the stable part of a card's events.
type cardholder struct {
	card, device, country string
	issued, deviceSeen    time.Time
	offset                int
	usual                 float64
}

var merchants = []struct {
	id, name string
	mcc      int
}{
	{"m-grocer", "REWE Markt", 5411}, {"m-fuel", "Aral Station", 5541}, {"m-books", "Thalia Online", 5942},
	{"m-air", "Lufthansa", 4511}, {"m-shop", "Zalando", 5691}, {"m-bet", "Lucky Bet", 7995},
	{"m-remit", "QuickRemit", 4829}, {"m-coin", "CoinVault", 6051}, {"m-gadget", "Crypto Gadgets Ltd", 5732},
	{"m-btc", "BTC Direct Shop", 5999},
}

// payments writes card authorisations and refunds of cards over 30 days,
// sorted by time, with a fraud label from a latent model, plus incidents
// (card testing, a card farm on one device, velocity bursts, refunds to
// new cards, blocked cards) so every rule of card_fraud.risk fires on
// some rows and stays silent on others.
func payments(w io.Writer, rng *rand.Rand, n int) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	cards := make([]cardholder, max(n/25, 10))
	for i := range cards {
		c := &cards[i]
		c.card = fmt.Sprintf("tok-%05d", i)
		c.device = fmt.Sprintf("dev-%05d", i)
		c.country = pick(rng, []string{"DE", "DE", "DE", "FR", "NL", "AT"})
		c.issued = start.Add(-time.Duration(rng.IntN(1500)+1) * 24 * time.Hour)
		if rng.Float64() < 0.03 {
			c.issued = start.Add(time.Duration(rng.IntN(25*24)) * time.Hour) // issued during the month
		}
		c.deviceSeen = start.Add(-time.Duration(rng.IntN(700)+1) * 24 * time.Hour)
		c.offset = pick(rng, []int{60, 60, 60, 0, 120})
		c.usual = math.Exp(rng.NormFloat64()*0.6 + 3.5)
	}
	var out []payment
	for i := 0; i < n; i++ {
		c := &cards[rng.IntN(len(cards))]
		out = append(out, ordinary(rng, c, start.Add(time.Duration(rng.Int64N(int64(30*24*time.Hour))))))
	}
	inc := rand.New(rand.NewPCG(0x5eed, uint64(n)))
	for i := 0; i < n/120; i++ {
		out = append(out, paymentIncident(inc, &cards[inc.IntN(len(cards))], start.Add(time.Duration(inc.Int64N(int64(29*24*time.Hour)))), i)...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ts.Before(out[j].ts) })
	fmt.Fprintln(w, "event,card_id,device_id,merchant_id,merchant_name,mcc,channel,amount,card_country,merchant_country,ip_country,three_ds,card_issued,device_first_seen,utc_offset_min,ts,fraud")
	for _, p := range out {
		seen := ""
		if p.hasDeviceSeen {
			seen = p.deviceSeen.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s,%s,%s,%s,%s,%d,%s,%.2f,%s,%s,%s,%t,%s,%s,%d,%s,%d\n",
			p.event, p.card, p.device, p.merchant, p.name, p.mcc, p.channel, p.amount, p.cardCountry, p.merchantCountry,
			p.ip, p.threeDS, p.issued.Format(time.RFC3339), seen, p.offset, p.ts.Format(time.RFC3339), b2i(p.fraud))
	}
}

// ordinary is one everyday payment of card c at ts, labelled by a
// latent fraud model the policy's score rules approximate.
func ordinary(rng *rand.Rand, c *cardholder, ts time.Time) payment {
	m := merchants[rng.IntN(len(merchants))]
	if rng.Float64() < 0.6 {
		m = merchants[rng.IntN(5)] // mostly everyday merchants
	}
	p := payment{ts: ts, event: "card_auth", card: c.card, device: c.device, merchant: m.id, name: m.name, mcc: m.mcc,
		channel: pick(rng, []string{"pos", "pos", "ecom", "ecom", "moto"}), cardCountry: c.country, merchantCountry: c.country,
		issued: c.issued, deviceSeen: c.deviceSeen, hasDeviceSeen: true, offset: c.offset,
		amount: math.Round(c.usual*math.Exp(rng.NormFloat64()*0.8)*100) / 100}
	if rng.Float64() < 0.04 {
		p.event, p.amount = "card_refund", math.Round(c.usual*math.Exp(rng.NormFloat64()*0.9)*100)/100
	}
	if rng.Float64() < 0.15 {
		p.merchantCountry = pick(rng, []string{"GB", "US", "NL", "IE"})
	}
	logit := -5.0
	if p.channel == "ecom" {
		p.threeDS = rng.Float64() < 0.6
		p.ip = c.country
		if rng.Float64() < 0.08 {
			p.ip = pick(rng, []string{"US", "RU", "NG", "BR"})
			logit += 1.2
		}
		if rng.Float64() < 0.05 {
			p.hasDeviceSeen = false
			logit += 0.8
		}
		if !p.threeDS && p.amount > 500 {
			logit += 0.9
		}
	}
	if rng.Float64() < 0.02 {
		p.amount = math.Round(c.usual*(8+rng.Float64()*10)*100) / 100 // far above the usual
		logit += 1.5
	}
	if m.mcc == 7995 || m.mcc == 4829 || m.mcc == 6051 {
		logit += 1.0
	}
	if strings.Contains(strings.ToLower(m.name), "crypto") || strings.HasPrefix(strings.ToLower(m.name), "btc") {
		logit += 0.7
	}
	if p.merchantCountry != c.country && p.channel != "pos" {
		logit += 0.5
	}
	if p.threeDS && p.merchantCountry == c.country {
		logit -= 1.0
	}
	p.fraud = rng.Float64() < sigmoid(logit+rng.NormFloat64()*0.5)
	return p
}

// paymentIncident writes the events of one fraud pattern on card c at ts.
func paymentIncident(rng *rand.Rand, c *cardholder, ts time.Time, i int) []payment {
	base := ordinary(rng, c, ts)
	base.fraud = rng.Float64() < 0.8
	var out []payment
	at := func(k int, step time.Duration, f func(p *payment)) {
		for j := range k {
			p := base
			p.ts = ts.Add(time.Duration(j) * step)
			f(&p)
			out = append(out, p)
		}
	}
	switch rng.IntN(6) {
	case 0: // a blocked card
		at(1, 0, func(p *payment) { p.card = pick(rng, []string{"tok_4f1e9a7c2b3d8e60", "tok_8b2c6d0e1f3a5977"}) })
	case 1: // card testing: tiny authorisations a few minutes apart
		at(6, 4*time.Minute, func(p *payment) {
			p.event, p.channel, p.amount, p.ip = "card_auth", "ecom", float64(1+rng.IntN(3)), "US"
		})
	case 2: // a card farm: four cards on one device within hours
		dev := fmt.Sprintf("dev-farm-%03d", i)
		at(4, 40*time.Minute, func(p *payment) {
			p.event, p.device, p.card = "card_auth", dev, fmt.Sprintf("tok-farm-%03d-%d", i, rng.IntN(1000))
		})
	case 3: // velocity: 17 authorisations within the hour, some in bursts
		at(17, 3*time.Minute, func(p *payment) { p.event = "card_auth" })
	case 4: // a refund to a card issued yesterday
		at(1, 0, func(p *payment) {
			p.event, p.issued, p.amount = "card_refund", ts.Add(-30*time.Hour), p.amount*6
		})
	default: // a night-time spending spree at a remitter on a new card
		at(3, 20*time.Minute, func(p *payment) {
			p.event, p.merchant, p.name, p.mcc, p.channel = "card_auth", "m-remit", "QuickRemit", 4829, "ecom"
			p.amount, p.issued, p.threeDS, p.ip = 1400+float64(rng.IntN(600)), ts.Add(-3*24*time.Hour), false, c.country
			p.ts = time.Date(ts.Year(), ts.Month(), ts.Day(), 2, 0, 0, 0, time.UTC).Add(p.ts.Sub(ts))
		})
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
