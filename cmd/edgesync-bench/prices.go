package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// pricesJSON is the one file holding the prices the cost model uses, with
// their date and region.
//
//go:embed prices.json
var pricesJSON []byte

// Prices are published on-demand prices in US dollars.
type Prices struct {
	Region                    string  `json:"region"`
	Date                      string  `json:"date"`
	Note                      string  `json:"note"`
	WebSocketPerMillionMsgs   float64 `json:"apiGatewayWebSocketPerMillionMessages"`
	WebSocketUnitBytes        int     `json:"apiGatewayWebSocketMessageUnitBytes"`
	WebSocketPerMillionMinute float64 `json:"apiGatewayWebSocketPerMillionConnectionMinutes"`
	HTTPPerMillionRequests    float64 `json:"apiGatewayHTTPPerMillionRequests"`
	LambdaPerMillionRequests  float64 `json:"lambdaArm64PerMillionRequests"`
	LambdaPerGBSecond         float64 `json:"lambdaArm64PerGBSecond"`
	DynamoPerMillionWrites    float64 `json:"dynamoDBOnDemandPerMillionWriteUnits"`
	DynamoPerMillionReads     float64 `json:"dynamoDBOnDemandPerMillionReadUnits"`
}

func loadPrices() (Prices, error) {
	var p Prices
	if err := json.Unmarshal(pricesJSON, &p); err != nil {
		return Prices{}, fmt.Errorf("read prices.json: %w", err)
	}
	if p.Region == "" || p.Date == "" || p.WebSocketPerMillionMsgs <= 0 || p.LambdaPerGBSecond <= 0 ||
		p.DynamoPerMillionWrites <= 0 || p.DynamoPerMillionReads <= 0 || p.WebSocketUnitBytes <= 0 {
		return Prices{}, fmt.Errorf("prices.json: region, date and every price must be set")
	}
	return p, nil
}
