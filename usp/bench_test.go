package usp

import (
	"strconv"
	"testing"
)

// typicalGetResp is the answer to a Get of Device.WiFi.SSID.*. on a
// gateway with four SSIDs, each with a handful of parameters and stats.
func typicalGetResp() *GetResp {
	var res []ResolvedPath
	for i := 1; i <= 4; i++ {
		res = append(res, ResolvedPath{
			Path: "Device.WiFi.SSID." + strconv.Itoa(i) + ".",
			Params: map[string]string{
				"Enable": "true", "Status": "Up", "Alias": "cpe-ssid-" + strconv.Itoa(i), "Name": "wl" + strconv.Itoa(i),
				"SSID": "HomeNet-" + strconv.Itoa(i), "BSSID": "00:25:6d:00:00:0" + strconv.Itoa(i),
				"MACAddress": "00:25:6d:00:00:1" + strconv.Itoa(i), "LowerLayers": "Device.WiFi.Radio.1.",
				"Stats.BytesSent": "123456789", "Stats.BytesReceived": "987654321",
				"Stats.PacketsSent": "123456", "Stats.PacketsReceived": "654321", "Stats.ErrorsSent": "0",
			},
		})
	}
	return &GetResp{Results: []GetResult{{RequestedPath: "Device.WiFi.SSID.*.", Resolved: res}}}
}

func typicalNotify() *Notify {
	return NewNotify("vc-uptime", true, &ValueChange{Path: "Device.WiFi.SSID.1.Stats.BytesSent", Value: "123456789"})
}

func benchEncode(b *testing.B, body Body) {
	b.ReportAllocs()
	var size int
	for b.Loop() {
		rec, err := NewMsgRecord("os::012345-SIM000001", "self::cuttle-controller", "cuttle-0123456789abcdef-1", body)
		if err != nil {
			b.Fatal(err)
		}
		out, err := rec.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.SetBytes(int64(size))
}

func benchDecode(b *testing.B, body Body) {
	rec, _ := NewMsgRecord("os::012345-SIM000001", "self::cuttle-controller", "cuttle-0123456789abcdef-1", body)
	wire, _ := rec.Marshal()
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := ParseRecord(wire)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Message(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeGetResp(b *testing.B) { benchEncode(b, typicalGetResp()) }
func BenchmarkDecodeGetResp(b *testing.B) { benchDecode(b, typicalGetResp()) }
func BenchmarkEncodeNotify(b *testing.B)  { benchEncode(b, typicalNotify()) }
func BenchmarkDecodeNotify(b *testing.B)  { benchDecode(b, typicalNotify()) }

// BenchmarkPeekRecord is the broker's per-publish cost of checking from_id,
// to compare with BenchmarkParseRecordHeader (a full Record decode).
func BenchmarkPeekRecord(b *testing.B) {
	rec, _ := NewMsgRecord("os::012345-SIM000001", "self::cuttle-controller", "id", typicalGetResp())
	wire, _ := rec.Marshal()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PeekRecord(wire); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseRecordHeader decodes the whole Record (not the Msg) for
// comparison with BenchmarkPeekRecord.
func BenchmarkParseRecordHeader(b *testing.B) {
	rec, _ := NewMsgRecord("os::012345-SIM000001", "self::cuttle-controller", "id", typicalGetResp())
	wire, _ := rec.Marshal()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRecord(wire); err != nil {
			b.Fatal(err)
		}
	}
}
