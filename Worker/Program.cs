// A training worker: joins the coordinator's cluster and computes what it is sent.
//   dotnet run --project Worker -- --seed 127.0.0.1:4053 [--threads 1] [--host 0.0.0.0 --public-host 10.0.0.5 --token ...]
using System.CommandLine;
using DataParallel.Shared.Native;
using DataParallel.Worker;

StartupEnvironment.EnsureApplied();
// SIGTERM leaves the cluster before exiting (the coordinated shutdown's phases take a few seconds): give it time.
return await WorkerCommand.Create().Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(25) });
