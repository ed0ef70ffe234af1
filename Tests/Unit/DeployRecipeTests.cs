using DataParallel.Tests.Support;
using YamlDotNet.RepresentationModel;
using static DataParallel.Tests.Support.DeployRecipe;

namespace DataParallel.Tests.Unit;

/// <summary>
/// The recipes in deploy/ against the programs: every role, flag, value, port, path and variable they use must be
/// what Coordinator and Worker accept, so a renamed option breaks a test, not a user's deployment. The Kubernetes
/// schema itself is checked by deploy/k8s/schema-check (npm kubernetes-models), from .ci/run.
/// </summary>
public sealed class DeployRecipeTests
{
    private static readonly IReadOnlyDictionary<string, string> DownwardApiSamples = new Dictionary<string, string>
    {
        ["status.podIP"] = "10.244.1.7",
        ["metadata.name"] = "dataparallel-worker-5d8f7c9b4-x2k8q",
    };

    [Fact]
    public void Compose_services_run_roles_and_flags_the_programs_accept()
    {
        var compose = Documents("compose.yaml").Single();
        var services = compose.At("services");
        var secrets = compose.At("secrets").Entries().Select(e => e.Key).ToHashSet();
        var coordinator = services.At("coordinator");
        var worker = services.At("worker");

        var coordinatorArgs = coordinator.At("command").Strings().Select(ComposeDefaults).ToList();
        var workerArgs = worker.At("command").Strings().Select(ComposeDefaults).ToList();
        // The entrypoint adds --public-host for replicas that advertise their own address.
        Assert.Equal("1", worker.At("environment", "DATAPARALLEL_ADVERTISE_IP").Text());
        Assert.Null(ValueOf(workerArgs, "--public-host"));
        foreach (var (program, args) in ProgramStarts(coordinatorArgs).Concat(ProgramStarts([.. workerArgs, "--public-host", "172.18.0.5"])))
            Parse(program, args);
        Assert.Equal("coordinator", coordinatorArgs[0]);
        Assert.Equal("worker", workerArgs[0]);

        // Workers find the coordinator by its service name, which is also the name it advertises.
        Assert.Equal($"coordinator:{ValueOf(coordinatorArgs, "--port")}", ValueOf(workerArgs, "--seed"));
        Assert.Equal("coordinator", ValueOf(coordinatorArgs, "--public-host"));
        Assert.Contains(coordinatorArgs, a => a == "--external");

        foreach (var (name, service, args) in new[] { ("coordinator", coordinator, coordinatorArgs), ("worker", worker, workerArgs) })
        {
            var used = service.At("secrets").Strings();
            Assert.All(used, s => Assert.Contains(s, secrets));
            Assert.Equal($"/run/secrets/{ValueOf(args, "--tls-certificate")!.Split('/')[^1]}", ValueOf(args, "--tls-certificate"));
            Assert.Contains(ValueOf(args, "--tls-certificate")!.Split('/')[^1], used);
            Assert.Contains(service.At("environment", "DATAPARALLEL_TOKEN_FILE").Text().Split('/')[^1], used);
            Assert.All(service.At("environment").Entries(),
                e => Assert.True(IsKnownVariable(e.Key), $"{name}: {e.Key} is read by neither program nor entrypoint"));
            Assert.Matches(@"^\d+s$", service.At("stop_grace_period").Text());
        }
        // Bit-identical results need equal thread counts: one CPU per --threads.
        Assert.Equal(ValueOf(workerArgs, "--threads"), worker.At("cpus").Text());
        // The coordinator reads MNIST where the image's default --data points and writes its run to a volume.
        Assert.Contains(coordinator.At("volumes").Strings(), v => v.Split(':')[1] == "/data/mnist");
        Assert.Contains(coordinator.At("volumes").Strings(), v => ValueOf(coordinatorArgs, "--out")!.StartsWith(v.Split(':')[1] + "/"));
    }

    [Fact]
    public void Kubernetes_containers_run_roles_and_flags_the_programs_accept()
    {
        var containers = Workloads().SelectMany(w => w.Spec.At("containers").AllNodes.OfType<YamlMappingNode>()
            .Where(c => c.Child("args") is not null).Select(c => (w.Kind, Container: c))).ToList();
        Assert.Equal(2, containers.Count);
        foreach (var (kind, container) in containers)
        {
            var args = ExpandedArgs(container);
            foreach (var (program, start) in ProgramStarts(args))
                Parse(program, start);
            Assert.Equal(kind == "StatefulSet" ? "train-or-resume" : "worker", args[0]);
            foreach (var (name, _) in EnvOf(container).Where(e => !e.Value.StartsWith("$fieldRef:")))
                Assert.True(IsKnownVariable(name), $"{name} is read by neither program nor entrypoint");
            // The image's user owns nothing else: run as it.
            Assert.Equal("10001", Workloads().Single(w => w.Kind == kind).Spec.At("securityContext", "runAsUser").Text());
        }
    }

    [Fact]
    public void Kubernetes_addresses_ports_secrets_and_volumes_fit_together()
    {
        var service = Documents("k8s/coordinator.yaml").Single(d => d.At("kind").Text() == "Service");
        var statefulSet = Workloads().Single(w => w.Kind == "StatefulSet");
        var deployment = Workloads().Single(w => w.Kind == "Deployment");
        var coordinator = (YamlMappingNode)((YamlSequenceNode)statefulSet.Spec.At("containers")).Children.Single();
        var worker = (YamlMappingNode)((YamlSequenceNode)deployment.Spec.At("containers")).Children.Single();
        var coordinatorArgs = ExpandedArgs(coordinator);
        var workerArgs = ExpandedArgs(worker);

        // Akka only accepts messages addressed to the name a node advertises: the seed must be that very name,
        // the StatefulSet's first pod under its headless Service.
        Assert.Equal("None", service.At("spec", "clusterIP").Text());
        var serviceName = service.At("metadata", "name").Text();
        Assert.Equal(serviceName, statefulSet.Document.At("spec", "serviceName").Text());
        Assert.Equal("1", statefulSet.Document.At("spec", "replicas").Text());
        var coordinatorHost = $"{statefulSet.Document.At("metadata", "name").Text()}-0.{serviceName}";
        var port = ValueOf(coordinatorArgs, "--port");
        Assert.Equal(coordinatorHost, ValueOf(coordinatorArgs, "--public-host"));
        Assert.Equal($"{coordinatorHost}:{port}", ValueOf(workerArgs, "--seed"));
        Assert.Contains(service.At("spec", "ports").AllNodes.OfType<YamlMappingNode>(), p => p.Child("port")?.Text() == port);
        Assert.Contains(coordinator.At("ports").AllNodes.OfType<YamlMappingNode>(), p => p.Child("containerPort")?.Text() == port);
        Assert.Contains(worker.At("ports").AllNodes.OfType<YamlMappingNode>(),
            p => p.Child("containerPort")?.Text() == ValueOf(workerArgs, "--port"));

        // Each worker advertises its own pod IP (downward API); its CPU limit is its --threads.
        Assert.Equal("$(POD_IP)", worker.At("args").Strings()[worker.At("args").Strings().IndexOf("--public-host") + 1]);
        Assert.Equal("$fieldRef:status.podIP", EnvOf(worker)["POD_IP"]);
        Assert.Equal(ValueOf(workerArgs, "--threads"), worker.At("resources", "limits", "cpu").Text());

        // The run directory is on a claim that outlives the pod; train-or-resume resumes what is there.
        var runDir = coordinatorArgs[1];
        var claims = statefulSet.Document.At("spec", "volumeClaimTemplates").AllNodes.OfType<YamlMappingNode>()
            .Select(c => c.Child("metadata")?.Child("name")?.Text()).OfType<string>().ToHashSet();
        var mounts = coordinator.At("volumeMounts").AllNodes.OfType<YamlMappingNode>().Where(m => m.Child("mountPath") is not null).ToList();
        Assert.Contains(mounts, m => runDir.StartsWith(m.At("mountPath").Text() + "/") && claims.Contains(m.At("name").Text()));
        Assert.Contains(mounts, m => m.At("mountPath").Text() == "/data" && claims.Contains(m.At("name").Text()));

        // Token and certificate come from one Secret, with the keys deploy/k8s/secret.md creates.
        var secretDoc = File.ReadAllText(Path.Combine(Deploy, "k8s", "secret.md"));
        foreach (var (workload, container, args) in new[] { (statefulSet, coordinator, coordinatorArgs), (deployment, worker, workerArgs) })
        {
            Assert.Equal("$secret:dataparallel/token", EnvOf(container)[Shared.Security.JoinToken.EnvironmentVariable]);
            var certificate = ValueOf(args, "--tls-certificate")!;
            var mount = container.At("volumeMounts").AllNodes.OfType<YamlMappingNode>()
                .Single(m => m.Child("mountPath") is { } p && certificate.StartsWith(p.Text() + "/"));
            var volume = workload.Spec.At("volumes").AllNodes.OfType<YamlMappingNode>()
                .Single(v => v.Child("name")?.Text() == mount.At("name").Text());
            Assert.Equal("dataparallel", volume.At("secret", "secretName").Text());
            Assert.Contains(volume.At("secret", "items").AllNodes.OfType<YamlMappingNode>(),
                i => i.Child("path")?.Text() == Path.GetFileName(certificate) && secretDoc.Contains($"--from-file={i.At("key").Text()}"));
            Assert.True(int.Parse(workload.Spec.At("terminationGracePeriodSeconds").Text()) >= 20, "SIGTERM's graceful leave takes a few seconds");
        }
        Assert.Contains("--from-file=token", secretDoc);
    }

    [Fact]
    public void Image_exposes_the_recipes_ports_and_runs_unprivileged()
    {
        var dockerfile = File.ReadAllLines(Path.Combine(Deploy, "Dockerfile"));
        var exposed = dockerfile.Where(l => l.StartsWith("EXPOSE ")).SelectMany(l => l.Split(' ')[1..]).ToHashSet();
        var compose = Documents("compose.yaml").Single().At("services");
        Assert.Contains(ValueOf(compose.At("coordinator", "command").Strings(), "--port")!, exposed);
        Assert.Contains(ValueOf(compose.At("worker", "command").Strings(), "--port")!, exposed);
        Assert.Contains(dockerfile, l => l == "USER ${APP_UID}");
        Assert.Contains(dockerfile, l => l == "ARG APP_UID=10001");
        var entrypoint = File.ReadAllText(Path.Combine(Deploy, "entrypoint.sh"));
        foreach (var role in new[] { "coordinator)", "worker)", "train-or-resume)" })
            Assert.Contains(role, entrypoint);
    }

    private static IEnumerable<(string Kind, YamlMappingNode Document, YamlNode Spec)> Workloads() =>
        new[] { "k8s/coordinator.yaml", "k8s/worker.yaml" }.SelectMany(Documents)
            .Where(d => d.At("kind").Text() is "StatefulSet" or "Deployment")
            .Select(d => (d.At("kind").Text(), d, d.At("spec", "template", "spec")));

    /// <summary>A container's env: literal values, "$fieldRef:PATH" or "$secret:NAME/KEY".</summary>
    private static Dictionary<string, string> EnvOf(YamlMappingNode container) =>
        (container.Child("env") as YamlSequenceNode)?.Children.Cast<YamlMappingNode>().ToDictionary(
            e => e.At("name").Text(),
            e => e.Child("value")?.Text()
                 ?? (e.At("valueFrom").Child("fieldRef") is { } f ? $"$fieldRef:{f.At("fieldPath").Text()}"
                     : $"$secret:{e.At("valueFrom", "secretKeyRef", "name").Text()}/{e.At("valueFrom", "secretKeyRef", "key").Text()}"))
        ?? [];

    private static List<string> ExpandedArgs(YamlMappingNode container)
    {
        var values = EnvOf(container).ToDictionary(
            e => e.Key,
            e => e.Value.StartsWith("$fieldRef:") ? DownwardApiSamples[e.Value["$fieldRef:".Length..]] : e.Value);
        return container.At("args").Strings().Select(a => KubernetesExpand(a, values)).ToList();
    }
}
