using System.Diagnostics;
using OffRL.Tensors;
unsafe {
foreach (int s in new[]{256, 1024}) foreach (int t in new[]{1,2}) {
  Gemm.Threads = t;
  var a = new float[s*s]; var b = new float[s*s]; var c = new float[s*s];
  var r = new Rng(1); r.FillNormal(a); r.FillNormal(b);
  for (int w=0; w<3; w++) Gemm.Sgemm(false,false,s,s,s,1,a,s,b,s,0,c,s);
  int reps = s==256? 400: 8; var sw = Stopwatch.StartNew();
  for (int i=0;i<reps;i++) Gemm.Sgemm(false,false,s,s,s,1,a,s,b,s,0,c,s);
  double gf = 2.0*s*s*s*reps/sw.Elapsed.TotalSeconds/1e9;
  Console.WriteLine($"{s} t{t}: {gf:F1} GFLOP/s");
}}
