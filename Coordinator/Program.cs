// The coordinator: the cluster's seed node and the trainer's command line.
//   dotnet run --project Coordinator -- train            2 local worker processes, 15 epochs, full MNIST
//   dotnet run --project Coordinator -- summary          the model, layer by layer
//   dotnet run --project Coordinator -- --help           every command and option
using DataParallel.Coordinator.Cli;
using DataParallel.Shared.Native;

StartupEnvironment.EnsureApplied();
return await CoordinatorCommands.Create().Parse(args).InvokeAsync();
