package main

import (
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// The name tables the seed draws from. Each name has a weight: its share of the slot table,
// so a customer user's first or last name is a weighted draw. The common surnames carry their
// frequency per 100 000 people (US census 2010 for the English and Spanish ones, the usual
// national rankings for the European and Asian ones, scaled to a mixed international
// customer base); the rest of the 100 000 surname slots is a long tail of generated,
// plausible-looking surnames of which many occur only about ten times in a million. So
// "smith" is common (Smith ~0.8 %, plus Goldsmith, Smithson, …) but not everywhere, and a
// tail name is the honest "rare term".

// weighted is a name and how many slots it gets.
type weighted struct {
	name   string
	weight int
}

// lastSlots is the size of the surname slot table.
const lastSlots = 100_000

var commonLast = []weighted{
	// English / US (census 2010, per 100 000).
	{"Smith", 828}, {"Johnson", 655}, {"Williams", 550}, {"Brown", 487}, {"Jones", 483},
	{"Garcia", 395}, {"Miller", 394}, {"Davis", 381}, {"Rodriguez", 351}, {"Martinez", 338},
	{"Hernandez", 337}, {"Lopez", 294}, {"Gonzalez", 287}, {"Wilson", 270}, {"Anderson", 265},
	{"Thomas", 254}, {"Taylor", 252}, {"Moore", 240}, {"Jackson", 237}, {"Martin", 236},
	{"Lee", 234}, {"Perez", 228}, {"Thompson", 227}, {"White", 226}, {"Harris", 214},
	{"Sanchez", 211}, {"Clark", 192}, {"Ramirez", 189}, {"Lewis", 186}, {"Robinson", 183},
	{"Walker", 180}, {"Young", 168}, {"Allen", 165}, {"King", 164}, {"Wright", 162},
	{"Scott", 153}, {"Torres", 150}, {"Nguyen", 150}, {"Hill", 149}, {"Flores", 148},
	{"Green", 147}, {"Adams", 146}, {"Nelson", 143}, {"Baker", 141}, {"Hall", 139},
	{"Rivera", 136}, {"Campbell", 130}, {"Mitchell", 128}, {"Carter", 126}, {"Roberts", 126},
	// The rarer names that contain "smith".
	{"Goldsmith", 18}, {"Smithson", 12}, {"Arrowsmith", 6}, {"Smithers", 5}, {"Smithfield", 3},
	// German.
	{"Müller", 300}, {"Schmidt", 250}, {"Schneider", 180}, {"Fischer", 170}, {"Weber", 160},
	{"Meyer", 155}, {"Wagner", 140}, {"Becker", 130}, {"Schulz", 125}, {"Hoffmann", 120},
	{"Schäfer", 100}, {"Koch", 100}, {"Bauer", 95}, {"Richter", 90}, {"Klein", 90},
	{"Wolf", 85}, {"Schröder", 80}, {"Neumann", 80}, {"Schwarz", 75}, {"Zimmermann", 75},
	{"Braun", 70}, {"Krüger", 65}, {"Hofmann", 65}, {"Hartmann", 60}, {"Lange", 60},
	{"Schmitt", 60}, {"Schmid", 50},
	// Dutch.
	{"de Jong", 120}, {"Jansen", 110}, {"de Vries", 105}, {"van den Berg", 95}, {"van Dijk", 90},
	{"Bakker", 90}, {"Janssen", 85}, {"Visser", 80}, {"Smit", 80}, {"Meijer", 75},
	{"de Boer", 70}, {"Mulder", 65}, {"de Groot", 65}, {"Bos", 60}, {"Vos", 55},
	{"Peters", 55}, {"Hendriks", 50},
	// French.
	{"Bernard", 90}, {"Dubois", 85}, {"Durand", 70}, {"Lefebvre", 65}, {"Moreau", 60},
	{"Simon", 60}, {"Leroy", 55}, {"Laurent", 55}, {"Michel", 55}, {"Girard", 45}, {"Lefèvre", 30},
	// Italian.
	{"Rossi", 120}, {"Russo", 100}, {"Ferrari", 90}, {"Esposito", 85}, {"Bianchi", 80},
	{"Romano", 75}, {"Colombo", 70}, {"Ricci", 65}, {"Marino", 60}, {"Greco", 55},
	// Polish, Czech.
	{"Nowak", 110}, {"Kowalski", 90}, {"Wiśniewski", 70}, {"Wójcik", 60}, {"Kowalczyk", 55},
	{"Kamiński", 50}, {"Novák", 60}, {"Svoboda", 45}, {"Dvořák", 40},
	// Turkish.
	{"Yılmaz", 90}, {"Kaya", 70}, {"Demir", 65}, {"Şahin", 50}, {"Çelik", 45},
	// Nordic.
	{"Andersson", 80}, {"Johansson", 75}, {"Karlsson", 70}, {"Nilsson", 65}, {"Eriksson", 60},
	{"Larsson", 55}, {"Hansen", 80}, {"Nielsen", 75}, {"Jensen", 70}, {"Pedersen", 60}, {"Olsen", 50},
	// Irish.
	{"Murphy", 70}, {"Kelly", 60}, {"O'Brien", 50}, {"Walsh", 45}, {"Byrne", 40},
	// Asian, Indian, Portuguese, Russian.
	{"Wang", 100}, {"Li", 100}, {"Zhang", 90}, {"Liu", 80}, {"Chen", 80}, {"Kim", 90}, {"Park", 60},
	{"Patel", 110}, {"Singh", 100}, {"Kumar", 80}, {"Sharma", 60}, {"Khan", 80}, {"Ali", 70},
	{"Silva", 100}, {"Santos", 90}, {"Ferreira", 70}, {"Pereira", 65}, {"Oliveira", 60}, {"Costa", 55},
	{"Ivanov", 60}, {"Smirnov", 55}, {"Popov", 45}, {"Kuznetsov", 40},
}

var firstNames = []weighted{
	{"James", 33}, {"Mary", 25}, {"John", 32}, {"Patricia", 10}, {"Robert", 31}, {"Jennifer", 11},
	{"Michael", 34}, {"Linda", 10}, {"William", 25}, {"Elizabeth", 12}, {"David", 30}, {"Barbara", 8},
	{"Richard", 18}, {"Susan", 8}, {"Joseph", 16}, {"Jessica", 9}, {"Thomas", 22}, {"Sarah", 12},
	{"Charles", 12}, {"Karen", 6}, {"Christopher", 12}, {"Lisa", 7}, {"Daniel", 16}, {"Nancy", 5},
	{"Matthew", 10}, {"Betty", 3}, {"Anthony", 8}, {"Margaret", 5}, {"Mark", 9}, {"Sandra", 5},
	{"Donald", 6}, {"Ashley", 5}, {"Steven", 8}, {"Emily", 8}, {"Paul", 10}, {"Donna", 3},
	{"Andrew", 10}, {"Michelle", 6}, {"Joshua", 6}, {"Carol", 3}, {"Kenneth", 5}, {"Amanda", 5},
	{"Kevin", 6}, {"Melissa", 4}, {"Brian", 6}, {"Deborah", 3}, {"George", 6}, {"Stephanie", 4},
	{"Timothy", 5}, {"Rebecca", 4}, {"Peter", 12}, {"Anna", 14}, {"Maria", 16},
	{"Lukas", 8}, {"Leon", 6}, {"Jonas", 5}, {"Felix", 5}, {"Maximilian", 4}, {"Sophie", 8},
	{"Marie", 9}, {"Emma", 9}, {"Mia", 5}, {"Hannah", 6}, {"Lena", 5}, {"Julia", 8}, {"Laura", 7},
	{"Lea", 4}, {"Sven", 3}, {"Jan", 8}, {"Pieter", 3}, {"Sanne", 3}, {"Daan", 3}, {"Joost", 2},
	{"Fleur", 2}, {"Luca", 4}, {"Giulia", 4}, {"Francesco", 4}, {"Alessandro", 3}, {"Chiara", 3},
	{"Pierre", 4}, {"Camille", 4}, {"Nicolas", 5}, {"Julien", 3}, {"Manon", 2}, {"Élodie", 2},
	{"Zoë", 2}, {"Jürgen", 3}, {"Jörg", 2}, {"Søren", 1}, {"François", 2}, {"José", 4}, {"Ana", 4},
	{"Carlos", 5}, {"Javier", 3}, {"Lucía", 3}, {"Piotr", 3}, {"Katarzyna", 3}, {"Tomasz", 3},
	{"Agnieszka", 2}, {"Ahmed", 3}, {"Fatima", 3}, {"Mehmet", 3}, {"Ayşe", 2}, {"Yuki", 1},
	{"Wei", 2}, {"Priya", 2}, {"Raj", 2}, {"Olga", 2}, {"Ivan", 3}, {"Dmitri", 2}, {"Nina", 3},
	{"Eva", 4}, {"Ingrid", 2}, {"Lars", 3}, {"Erik", 4}, {"Astrid", 2},
}

// The generated tail: onset + middle + ending, e.g. "Kelarstrom", "Bransenko".
var (
	tailOnsets = []string{"Bal", "Ber", "Cor", "Dal", "Fen", "Gar", "Hal", "Kar", "Lin", "Mar",
		"Nor", "Ost", "Pel", "Rad", "Sal", "Tor", "Val", "Wen", "Zel", "Bran", "Crom", "Dorn", "Fal",
		"Grim", "Hol", "Jor", "Kel", "Lor", "Mor", "Ros"}
	tailMiddles = []string{"a", "e", "i", "o", "u", "en", "er", "in", "on", "an", "ar", "el", "il",
		"ol", "ur", "am", "em", "is", "os", "ad", "ed", "id", "od", "ev", "av"}
	tailEndings = []string{"berg", "dorf", "ski", "ov", "ini", "ez", "son", "sen", "man", "ler",
		"ner", "ter", "vic", "ko", "ardi", "elli", "aux", "ier", "quist", "strom"}
)

// The tail's tiers: how many names get how many slots. 2 000 names at ~200 customer users
// each, 6 000 at ~60, and the rest of the slots one each (~10 customer users per name).
var tailTiers = []struct{ names, weight int }{{2000, 20}, {6000, 6}}

// lastNames returns the surname slot table's names with their weights, summing to lastSlots,
// and the tail name with the least weight (the rare search term).
func lastNames() (names []weighted, rare string) {
	names = append(names, commonLast...)
	used := 0
	seen := map[string]bool{}
	for _, n := range commonLast {
		used += n.weight
		seen[strings.ToLower(n.name)] = true
	}
	var tail []string
	for _, a := range tailOnsets {
		for _, b := range tailMiddles {
			for _, c := range tailEndings {
				n := a + b + c
				if !seen[strings.ToLower(n)] {
					seen[strings.ToLower(n)] = true
					tail = append(tail, n)
				}
			}
		}
	}
	// Interleave the tail so the tiers are not alphabetical runs of one onset.
	shuffled := make([]string, 0, len(tail))
	for i := range tail {
		shuffled = append(shuffled, tail[(i*7919)%len(tail)])
	}
	i := 0
	for _, tier := range tailTiers {
		for k := 0; k < tier.names && used+tier.weight <= lastSlots; k++ {
			names = append(names, weighted{shuffled[i], tier.weight})
			used += tier.weight
			i++
		}
	}
	for used < lastSlots && i < len(shuffled) {
		names = append(names, weighted{shuffled[i], 1})
		used++
		i++
	}
	// The last one-slot name is the rare term (the bench reports how many it matches).
	rare = names[len(names)-1].name
	return names, rare
}

// asciiFold is a name as it appears in logins and emails: lower case, letters only, accents
// and spaces dropped ("van den Berg" → "vandenberg", "Müller" → "muller", "O'Brien" → "obrien").
func asciiFold(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case r == 'ı':
			b.WriteByte('i')
		case r == 'ø':
			b.WriteByte('o')
		case r == 'ł':
			b.WriteByte('l')
		case r < 128 && unicode.IsLetter(r):
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// Companies: brand × industry × legal form, 3 000 of them by default.
var (
	companyBrands = []string{"Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka",
		"Tyrell", "Cyberdyne", "Soylent", "Hooli", "Vandelay", "Pied Piper", "Aperture", "Black Mesa",
		"Oscorp", "Gringotts", "Monarch", "Nakatomi", "Virtucon", "Smith", "Miller", "Johnson",
		"Schmidt", "Rossi", "Nordwind", "Alpen", "Rhein", "Baltic", "Atlas", "Orion", "Polaris",
		"Zenith", "Summit", "Harbor", "Granite", "Cedar", "Maple", "Falcon", "Kestrel", "Lumen",
		"Vertex", "Quantum", "Nimbus", "Helix", "Vector", "Matrix", "Pioneer", "Frontier", "Keystone",
		"Beacon", "Anchor", "Crescent", "Meridian", "Sterling", "Ironwood", "Bluewater", "Redstone",
		"Silverline", "Evergreen"}
	companyIndustries = []string{"Logistics", "Software", "Consulting", "Engineering", "Foods",
		"Pharma", "Energy", "Textiles", "Media", "Insurance", "Bank", "Retail", "Robotics",
		"Chemicals", "Construction", "Telecom", "Health", "Travel", "Security", "Analytics",
		"Aerospace", "Marine", "Printing", "Furniture", "Automotive"}
	companyForms = []string{"GmbH", "Ltd", "Inc.", "B.V.", "SAS", "AG"}
	cities       = []struct{ city, country string }{
		{"Berlin", "Germany"}, {"Hamburg", "Germany"}, {"München", "Germany"}, {"Köln", "Germany"},
		{"Frankfurt am Main", "Germany"}, {"Stuttgart", "Germany"}, {"Wien", "Austria"},
		{"Zürich", "Switzerland"}, {"Amsterdam", "Netherlands"}, {"Rotterdam", "Netherlands"},
		{"Brussels", "Belgium"}, {"Paris", "France"}, {"Lyon", "France"}, {"Milano", "Italy"},
		{"Roma", "Italy"}, {"Madrid", "Spain"}, {"Barcelona", "Spain"}, {"Lisboa", "Portugal"},
		{"London", "United Kingdom"}, {"Manchester", "United Kingdom"}, {"Dublin", "Ireland"},
		{"Kraków", "Poland"}, {"Warszawa", "Poland"}, {"Praha", "Czechia"}, {"Stockholm", "Sweden"},
		{"København", "Denmark"}, {"Oslo", "Norway"}, {"Helsinki", "Finland"}, {"İstanbul", "Türkiye"},
		{"New York", "United States"}, {"Chicago", "United States"}, {"Austin", "United States"},
		{"Toronto", "Canada"}, {"São Paulo", "Brazil"}, {"Mumbai", "India"}, {"Singapore", "Singapore"},
		{"Tokyo", "Japan"}, {"Seoul", "South Korea"}, {"Sydney", "Australia"}, {"Cape Town", "South Africa"}}
	streets = []string{"Hauptstraße", "Bahnhofstraße", "Main Street", "High Street", "Kerkstraat",
		"Rue de la Paix", "Via Roma", "Calle Mayor", "Market Street", "Church Road", "Park Avenue",
		"Lindenallee", "Schillerstraße", "Station Road", "Dorpsstraat", "Mill Lane"}
)

// company is one customer_company row.
type company struct {
	id, name, domain, street, zip, city, country, url string
	valid                                             int
}

// maxCompanies is how many distinct brand × industry × form names there are.
var maxCompanies = len(companyBrands) * len(companyIndustries) * len(companyForms)

// companies returns n (at most maxCompanies) distinct companies; company k's customer id is a short code
// ("ACME-0042") that contains no surname, as OTRS shops usually number their customers.
func companies(n int) []company {
	out := make([]company, 0, n)
	nb, ni, nf := len(companyBrands), len(companyIndustries), len(companyForms)
	for k := 0; k < n; k++ {
		brand := companyBrands[k%nb]
		industry := companyIndustries[(k/nb)%ni]
		form := companyForms[(k/(nb*ni))%nf]
		c := cities[(k*7)%len(cities)]
		slug := asciiFold(brand) + "-" + asciiFold(industry)
		code := strings.ToUpper(asciiFold(brand))
		if len(code) > 4 {
			code = code[:4]
		}
		valid := 1
		if k%50 == 49 {
			valid = 2
		}
		out = append(out, company{
			id:      fmt.Sprintf("%s-%04d", code, k),
			name:    brand + " " + industry + " " + form,
			domain:  slug + ".example",
			street:  fmt.Sprintf("%s %d", streets[k%len(streets)], 1+k%180),
			zip:     fmt.Sprintf("%05d", 10000+(k*7919)%89999),
			city:    c.city,
			country: c.country,
			url:     "https://www." + slug + ".example/",
			valid:   valid,
		})
	}
	return out
}
