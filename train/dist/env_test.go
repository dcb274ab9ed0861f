package dist

import (
	"strings"
	"testing"
)

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		want    Env
		wantErr string // substring; "" = no error
	}{
		{name: "no launcher", vars: nil, want: Single()},
		{name: "torchrun", vars: map[string]string{
			"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "node0", "MASTER_PORT": "29400"},
			want: Env{Rank: 3, WorldSize: 8, LocalRank: 1, LocalWorldSize: 2, MasterAddr: "node0", MasterPort: 29400, Source: "torchrun"}},
		{name: "PyTorchJob (no LOCAL_*)", vars: map[string]string{
			"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "job-master-0", "MASTER_PORT": "23456"},
			want: Env{Rank: 1, WorldSize: 2, LocalRank: 0, LocalWorldSize: 1, MasterAddr: "job-master-0", MasterPort: 23456, Source: "torchrun"}},
		{name: "torchrun wins over slurm", vars: map[string]string{
			"RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "h", "MASTER_PORT": "1", "SLURM_PROCID": "5", "SLURM_NTASKS": "6"},
			want: Env{Rank: 0, WorldSize: 1, LocalWorldSize: 1, MasterAddr: "h", MasterPort: 1, Source: "torchrun"}},
		{name: "slurm", vars: map[string]string{
			"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_TASKS_PER_NODE": "4(x2)", "MASTER_ADDR": "gpu01"},
			want: Env{Rank: 5, WorldSize: 8, LocalRank: 1, LocalWorldSize: 4, MasterAddr: "gpu01", MasterPort: DefaultPort, Source: "slurm"}},
		{name: "slurm ntasks-per-node and port", vars: map[string]string{
			"SLURM_PROCID": "2", "SLURM_NTASKS": "4", "SLURM_LOCALID": "0", "SLURM_NTASKS_PER_NODE": "2", "SLURM_TASKS_PER_NODE": "2(x2)",
			"MASTER_ADDR": "gpu01", "MASTER_PORT": "30000"},
			want: Env{Rank: 2, WorldSize: 4, LocalRank: 0, LocalWorldSize: 2, MasterAddr: "gpu01", MasterPort: 30000, Source: "slurm"}},
		{name: "slurm single task per node", vars: map[string]string{
			"SLURM_PROCID": "1", "SLURM_NTASKS": "2", "MASTER_ADDR": "a"},
			want: Env{Rank: 1, WorldSize: 2, LocalWorldSize: 1, MasterAddr: "a", MasterPort: DefaultPort, Source: "slurm"}},
		{name: "slurm without MASTER_ADDR", vars: map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "2"},
			wantErr: "MASTER_ADDR is not set: set it to the first host of the allocation"},
		{name: "slurm bad tasks per node", vars: map[string]string{
			"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_TASKS_PER_NODE": "x", "MASTER_ADDR": "a"},
			wantErr: `SLURM_TASKS_PER_NODE="x"`},
		{name: "slurm rank out of range", vars: map[string]string{"SLURM_PROCID": "2", "SLURM_NTASKS": "2", "MASTER_ADDR": "a"},
			wantErr: "SLURM_PROCID=2 is outside 0..1"},
		{name: "missing RANK", vars: map[string]string{"WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"},
			wantErr: "RANK is not set"},
		{name: "missing MASTER_PORT", vars: map[string]string{"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "h"},
			wantErr: "MASTER_PORT is not set"},
		{name: "missing MASTER_ADDR", vars: map[string]string{"WORLD_SIZE": "2", "RANK": "0", "MASTER_PORT": "1"},
			wantErr: "MASTER_ADDR is not set"},
		{name: "not a number", vars: map[string]string{"WORLD_SIZE": "two", "RANK": "0", "MASTER_ADDR": "h", "MASTER_PORT": "1"},
			wantErr: `WORLD_SIZE="two" is not an integer`},
		{name: "rank out of range", vars: map[string]string{"WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"},
			wantErr: "RANK=2 is outside 0..1"},
		{name: "zero world", vars: map[string]string{"WORLD_SIZE": "0", "RANK": "0", "MASTER_ADDR": "h", "MASTER_PORT": "1"},
			wantErr: "WORLD_SIZE=0"},
		{name: "local rank out of range", vars: map[string]string{
			"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "2", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"},
			wantErr: "LOCAL_RANK=2 is outside 0..1"},
		{name: "port out of range", vars: map[string]string{"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "h", "MASTER_PORT": "70000"},
			wantErr: "MASTER_PORT=70000 is outside 1..65535"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromEnv(func(k string) string { return tc.vars[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("FromEnv error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromEnv: %v", err)
			}
			if got != tc.want {
				t.Fatalf("FromEnv = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Environ is what Spawn hands a worker; FromEnv must read it back unchanged.
func TestEnvironRoundTrip(t *testing.T) {
	want := Env{Rank: 1, WorldSize: 2, LocalRank: 1, LocalWorldSize: 2, MasterAddr: "127.0.0.1", MasterPort: 4242, Source: "torchrun"}
	vars := map[string]string{}
	for _, kv := range want.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	got, err := FromEnv(func(k string) string { return vars[k] })
	if err != nil || got != want {
		t.Fatalf("FromEnv(Environ()) = %+v, %v; want %+v", got, err, want)
	}
}
