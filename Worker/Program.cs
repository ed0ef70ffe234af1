// A training worker: joins the coordinator's cluster and computes what it is sent.
//   dotnet run --project Worker -- --seed 127.0.0.1:4053 [--threads 1] [--host 0.0.0.0 --public-host 10.0.0.5 --token ...]
using DataParallel.Shared.Native;
using DataParallel.Worker;

StartupEnvironment.EnsureApplied();
return await WorkerCommand.Create().Parse(args).InvokeAsync();
