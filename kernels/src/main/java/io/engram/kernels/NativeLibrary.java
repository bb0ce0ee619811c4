package io.engram.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds, verifies and loads the Zig kernels library ({@code libengram.so} / {@code .dylib}).
 *
 * <p>Two sources:
 * <ul>
 *   <li><b>the jar</b> (default): {@code lib/engram-native.properties} lists the libraries the build produced and
 *       their SHA-256. For each variant this CPU can run, best first ({@link Platform#variants()}), the library is
 *       copied into a fresh owner-only (0700) directory, hashed <em>as read back from disk</em>, and loaded only if
 *       the hash matches the recorded one;</li>
 *   <li><b>an explicit path</b> set by the operator ({@value #LIBRARY_PATH_PROPERTY}), loaded in place, checked
 *       against a sibling {@code <file>.sha256} when there is one.</li>
 * </ul>
 * After {@link System#load} the library must report {@link ZigNative#ABI_VERSION}; otherwise it is refused.
 *
 * <p>A JVM can bind the JNI methods of {@link ZigNative} only once, so {@link #loadDefault} loads at most once per
 * class loader and remembers the outcome, success or failure, for every later caller (each Flink subtask asks).
 *
 * <p>The instance side is the injectable core the tests drive: resource lookup, platform, extraction root, the
 * "system loader" and the ABI probe are all parameters.
 */
public final class NativeLibrary {
    /** System property naming an explicit library file; overrides the jar. */
    public static final String LIBRARY_PATH_PROPERTY = "engram.kernels.library-path";
    /** System property forcing one variant from the jar, e.g. {@code baseline}. */
    public static final String VARIANT_PROPERTY = "engram.kernels.variant";
    /** System property naming the directory under which private extraction directories are created. */
    public static final String EXTRACT_DIR_PROPERTY = "engram.kernels.extract-dir";

    static final String PROPERTIES_RESOURCE = "lib/engram-native.properties";
    static final String JAVA_ONLY_MESSAGE = "this is a Java-only build: no native library in the jar";

    private static final Logger LOG = LoggerFactory.getLogger(NativeLibrary.class);

    private static final Set<PosixFilePermission> PRIVATE_DIR = PosixFilePermissions.fromString("rwx------");
    private static final Set<PosixFilePermission> FILE_WHILE_WRITING = PosixFilePermissions.fromString("rw-------");
    private static final Set<PosixFilePermission> FILE_WHEN_WRITTEN = PosixFilePermissions.fromString("r-x------");
    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");
    /** A plain file or directory name: no separator, no "." or "..", so a manifest cannot point outside its dir. */
    private static final Pattern PLAIN_NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9._-]*");

    private static final LoadOnce DEFAULT = new LoadOnce();

    /** What the loader asks the freshly loaded library; production calls into {@link ZigNative}. */
    interface Probe {
        int abiVersion();

        int compiledFeatures();
    }

    static final Probe ZIG_PROBE = new Probe() {
        @Override
        public int abiVersion() {
            return ZigNative.abiVersion();
        }

        @Override
        public int compiledFeatures() {
            return ZigNative.compiledFeatures();
        }
    };

    private final Function<String, InputStream> resources;
    private final Platform platform;
    private final Optional<Path> extractRoot;
    private final Consumer<Path> systemLoader;
    private final Probe probe;

    /**
     * @param resources    opens a jar resource by name, or returns null if there is none
     * @param platform     the machine to load for
     * @param extractRoot  where private extraction directories go; empty means {@code java.io.tmpdir}
     * @param systemLoader loads a library file ({@code System.load} in production)
     * @param probe        asks the loaded library its ABI version and compiled features
     */
    NativeLibrary(Function<String, InputStream> resources, Platform platform, Optional<Path> extractRoot,
                  Consumer<Path> systemLoader, Probe probe) {
        this.resources = Objects.requireNonNull(resources, "resources");
        this.platform = Objects.requireNonNull(platform, "platform");
        this.extractRoot = Objects.requireNonNull(extractRoot, "extractRoot").map(Path::toAbsolutePath);
        this.systemLoader = Objects.requireNonNull(systemLoader, "systemLoader");
        this.probe = Objects.requireNonNull(probe, "probe");
    }

    /**
     * Loads the library for this JVM, once. Later calls with the same arguments return the same result, or re-throw
     * the same {@link NativeLoadException}, without trying again.
     *
     * @param explicitPath  an operator-configured library file instead of the jar's
     * @param forcedVariant a variant from the jar to use instead of the best one for this CPU
     * @throws NativeLoadException   if no library could be loaded (now or in the earlier attempt)
     * @throws IllegalStateException if an earlier call asked for a different path or variant
     */
    static synchronized LoadedLibrary loadDefault(Optional<Path> explicitPath, Optional<String> forcedVariant) {
        return DEFAULT.get(Request.of(explicitPath, forcedVariant), NativeLibrary::loadForThisJvm);
    }

    /** The library {@link #loadDefault} loaded, if it has succeeded. */
    static synchronized Optional<LoadedLibrary> loaded() {
        return DEFAULT.loaded();
    }

    private static LoadedLibrary loadForThisJvm(Request request) {
        ClassLoader classLoader = Optional.ofNullable(NativeLibrary.class.getClassLoader())
                .orElseGet(ClassLoader::getSystemClassLoader);
        // A lambda in this class, not System::load: System.load binds the library to the class loader of its
        // caller, which must be the loader of ZigNative for the JNI functions to be found.
        NativeLibrary core = new NativeLibrary(classLoader::getResourceAsStream, Platform.current(),
                configuredExtractRoot(), path -> System.load(path.toString()), ZIG_PROBE);
        LoadedLibrary library = core.load(request.explicitPath(), request.forcedVariant());
        LOG.info("Loaded {}", library.describe());
        return library;
    }

    private static Optional<Path> configuredExtractRoot() {
        String value = System.getProperty(EXTRACT_DIR_PROPERTY, "").trim();
        try {
            return value.isEmpty() ? Optional.empty() : Optional.of(Path.of(value));
        } catch (InvalidPathException e) {
            throw new NativeLoadException(EXTRACT_DIR_PROPERTY + "='" + value + "' is not a valid path", List.of(), e);
        }
    }

    /** Loads from the explicit path if there is one, else from the jar. */
    LoadedLibrary load(Optional<Path> explicitPath, Optional<String> forcedVariant) {
        if (explicitPath.isPresent() && forcedVariant.isPresent()) {
            // Silently ignoring one of two operator settings would hide a configuration mistake.
            throw new NativeLoadException("a forced variant ('" + forcedVariant.get() + "', " + VARIANT_PROPERTY
                    + ") chooses among the libraries in the jar and cannot be combined with an explicit library path ("
                    + explicitPath.get() + ", " + LIBRARY_PATH_PROPERTY + "); set only one of them", List.of(), null);
        }
        return explicitPath.isPresent() ? loadExplicit(explicitPath.get()) : loadFromJar(forcedVariant);
    }

    // ---------------------------------------------------------------------------------------------------- the jar

    private LoadedLibrary loadFromJar(Optional<String> forcedVariant) {
        Manifest manifest = readManifest();
        List<String> candidates = candidates(manifest, forcedVariant);
        assert !candidates.isEmpty();
        List<String> tried = new ArrayList<>();
        for (String variant : candidates) {
            try {
                return loadJarVariant(manifest, variant);
            } catch (Rejected rejected) {
                tried.add(rejected.attempt);
                if (rejected.fatal) {
                    // The reason is in the last attempt; the headline says only that the search stopped there.
                    throw new NativeLoadException("refusing to load the engram native library for "
                            + platform.triple(), tried, rejected.getCause());
                }
                LOG.warn("Native library variant {} not usable, trying the next one: {}", variant, rejected.attempt);
            }
        }
        throw new NativeLoadException("no variant of the engram native library for " + platform.triple()
                + " could be loaded", tried, null);
    }

    private Manifest readManifest() {
        InputStream in = resources.apply(PROPERTIES_RESOURCE);
        if (in == null) {
            throw NativeLoadException.javaOnlyBuild(JAVA_ONLY_MESSAGE + " (" + PROPERTIES_RESOURCE
                    + " is missing): use kernel mode java, or a jar built without -Pjava-only");
        }
        Properties properties = new Properties();
        try (in) {
            properties.load(new InputStreamReader(in, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new NativeLoadException("cannot read " + PROPERTIES_RESOURCE + " from the jar", List.of(), e);
        }
        Manifest manifest = Manifest.parse(properties);
        if (manifest.abiVersion() != ZigNative.ABI_VERSION) {
            // Caught before anything is extracted or loaded: the jar was assembled from mismatched builds.
            throw new NativeLoadException("the libraries in the jar have ABI " + manifest.abiVersion()
                    + " (" + PROPERTIES_RESOURCE + "), Java expects " + ZigNative.ABI_VERSION, List.of(), null);
        }
        return manifest;
    }

    /** The variants to try, in order: the forced one alone, or those this CPU can run that the jar has. */
    private List<String> candidates(Manifest manifest, Optional<String> forcedVariant) {
        String triple = platform.triple();
        List<String> available = manifest.variantsFor(triple);
        if (available.isEmpty()) {
            String why = platform.unsupportedReason().map(reason -> ": " + reason).orElse("");
            throw new NativeLoadException("this jar has no native library for " + triple + why + "; it has "
                    + manifest.libraries(), List.of(), null);
        }
        if (forcedVariant.isPresent()) {
            return List.of(checkForcedVariant(forcedVariant.get(), available));
        }
        List<String> usable = platform.variants().stream().filter(available::contains).toList();
        if (usable.isEmpty()) {
            throw new NativeLoadException("the jar has variants " + available + " for " + triple
                    + " but this CPU can run only " + platform.variants() + " (CPU features "
                    + platform.cpuFeatures() + ")", List.of(), null);
        }
        return usable;
    }

    private String checkForcedVariant(String variant, List<String> available) {
        if (!available.contains(variant)) {
            throw new NativeLoadException("unknown native library variant '" + variant + "' (" + VARIANT_PROPERTY
                    + "): available for " + platform.triple() + " are " + available, List.of(), null);
        }
        if (!platform.variants().contains(variant)) {
            // Forcing code the CPU cannot execute would not fail here but at the first kernel call, with SIGILL.
            String needs = Platform.VARIANT_X86_64_V4.equals(variant)
                    ? "CPU features " + new TreeSet<>(Platform.X86_64_V4_FEATURES)
                    : Platform.VARIANT_X86_64_V3.equals(variant)
                    ? "CPU features " + new TreeSet<>(Platform.X86_64_V3_FEATURES)
                    : "a CPU this machine does not have";
            throw new NativeLoadException("native library variant '" + variant + "' (" + VARIANT_PROPERTY
                    + ") needs " + needs + ", but this CPU reports " + platform.cpuFeatures()
                    + "; it could run " + platform.variants(), List.of(), null);
        }
        return variant;
    }

    private LoadedLibrary loadJarVariant(Manifest manifest, String variant) throws Rejected {
        String triple = platform.triple();
        String fileName = manifest.fileName(triple, variant);
        String expected = manifest.sha256(triple, variant);
        String resource = "lib/" + triple + "/" + variant + "/" + fileName;
        Path file = extract(resource, fileName);
        String candidate = "jar resource " + resource + " extracted to " + file;
        String actual = hashOrReject(file, candidate);
        if (!actual.equals(expected)) {
            deleteExtracted(file);
            throw Rejected.fatal(candidate, "checksum mismatch: " + PROPERTIES_RESOURCE + " records sha256 "
                    + expected + " but the extracted file has sha256 " + actual
                    + "; refusing to load a library that is not the one the build produced", null);
        }
        try {
            return loadAndProbe(file, actual, variant, manifest.zigVersion(), LoadedLibrary.SOURCE_JAR, candidate);
        } catch (Rejected rejected) {
            if (!rejected.fatal) {
                deleteExtracted(file); // never loaded, so nothing maps it
            }
            throw rejected;
        }
    }

    /**
     * Copies a resource into a new private directory. The file is written owner-only and then made read-only, and
     * the directory is 0700, so between this copy and {@code System.load} only this user (or root) could swap it.
     */
    private Path extract(String resource, String fileName) throws Rejected {
        InputStream in = resources.apply(resource);
        if (in == null) {
            throw Rejected.skip("jar resource " + resource, "not found in the jar", null);
        }
        Path dir = null;
        try (in) {
            dir = createPrivateDirectory();
            Path file = dir.resolve(fileName);
            assert file.getParent().equals(dir) : "file name escapes its directory: " + fileName;
            Files.createFile(file, PosixFilePermissions.asFileAttribute(FILE_WHILE_WRITING));
            file.toFile().deleteOnExit(); // registered after the directory, so deleted before it
            try (OutputStream out = Files.newOutputStream(file, StandardOpenOption.WRITE)) {
                in.transferTo(out);
            }
            Files.setPosixFilePermissions(file, FILE_WHEN_WRITTEN);
            return file;
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            deleteExtracted(dir == null ? null : dir.resolve(fileName));
            throw Rejected.skip("jar resource " + resource, "could not extract it under " + extractRootName()
                    + " (" + e + "); set " + EXTRACT_DIR_PROPERTY + " to a writable local directory", e);
        }
    }

    /**
     * A fresh directory only this user can enter. Its name is random and created atomically, so nothing another
     * user placed in a shared temp directory (a symlink, a planted library) can be picked up.
     */
    private Path createPrivateDirectory() throws IOException {
        FileAttribute<Set<PosixFilePermission>> privateDir = PosixFilePermissions.asFileAttribute(PRIVATE_DIR);
        Path dir;
        if (extractRoot.isPresent()) {
            Files.createDirectories(extractRoot.get());
            dir = Files.createTempDirectory(extractRoot.get(), "engram-native-", privateDir);
        } else {
            dir = Files.createTempDirectory("engram-native-", privateDir);
        }
        dir.toFile().deleteOnExit();
        // The umask can only remove bits from 0700, but set it outright so the invariant never depends on it.
        Files.setPosixFilePermissions(dir, PRIVATE_DIR);
        assert Files.getPosixFilePermissions(dir).equals(PRIVATE_DIR) : dir;
        return dir;
    }

    private String extractRootName() {
        return extractRoot.map(Path::toString).orElseGet(() -> System.getProperty("java.io.tmpdir"));
    }

    /** Best effort: the file and its private directory are also registered for deletion at JVM exit. */
    private static void deleteExtracted(Path file) {
        if (file == null) {
            return;
        }
        try {
            Files.deleteIfExists(file);
            Files.deleteIfExists(file.getParent());
        } catch (IOException | SecurityException e) {
            LOG.debug("Could not delete {}: {}", file, e.toString());
        }
    }

    // --------------------------------------------------------------------------------------------- explicit path

    private LoadedLibrary loadExplicit(Path requested) {
        Path path = requested.toAbsolutePath().normalize();
        String candidate = "explicit path " + path + " (" + LIBRARY_PATH_PROPERTY + ")";
        try {
            checkReadableFile(path, candidate);
            String actual = hashOrReject(path, candidate);
            verifySidecar(path, actual, candidate);
            // The operator may point at a copy of one of the jar's libraries; if so, report which one it is.
            Optional<String[]> known = findInManifest(actual);
            String variant = known.map(k -> k[0]).orElse(LoadedLibrary.CUSTOM_VARIANT);
            String zigVersion = known.map(k -> k[1]).orElse(LoadedLibrary.UNKNOWN_ZIG_VERSION);
            return loadAndProbe(path, actual, variant, zigVersion, LoadedLibrary.SOURCE_EXPLICIT_PATH, candidate);
        } catch (Rejected rejected) {
            // A single candidate: the headline already names it and the reason, so no list of attempts.
            throw new NativeLoadException("cannot load the engram native library from " + rejected.attempt,
                    List.of(), rejected.getCause());
        }
    }

    private static void checkReadableFile(Path path, String candidate) throws Rejected {
        if (!Files.exists(path)) {
            throw Rejected.fatal(candidate, "no such file", null);
        }
        if (!Files.isRegularFile(path)) {
            throw Rejected.fatal(candidate, "not a regular file", null);
        }
        if (!Files.isReadable(path)) {
            throw Rejected.fatal(candidate, "not readable by this process", null);
        }
    }

    /**
     * Checks {@code <file>.sha256} if present ({@code sha256sum} format: the hash, optionally followed by a name).
     * The library is then loaded in place; this catches a wrong or corrupted file, not an adversary who can
     * write next to it (they could rewrite the sidecar as well).
     */
    private static void verifySidecar(Path path, String actual, String candidate) throws Rejected {
        Path sidecar = path.resolveSibling(path.getFileName() + ".sha256");
        if (!Files.exists(sidecar)) {
            return;
        }
        String expected;
        try {
            String text = Files.readString(sidecar, StandardCharsets.ISO_8859_1).trim();
            expected = text.isEmpty() ? "" : text.split("\\s+", 2)[0].toLowerCase(Locale.ROOT);
        } catch (IOException e) {
            throw Rejected.fatal(candidate, "cannot read " + sidecar + " (" + e + ")", e);
        }
        if (!SHA256_HEX.matcher(expected).matches()) {
            throw Rejected.fatal(candidate, sidecar + " does not start with a SHA-256 (64 hex digits)", null);
        }
        if (!expected.equals(actual)) {
            throw Rejected.fatal(candidate, "checksum mismatch: " + sidecar + " records sha256 " + expected
                    + " but the file has sha256 " + actual + "; refusing to load", null);
        }
    }

    /** {variant, zig version} of the jar library with this checksum, if the jar has one for this platform. */
    private Optional<String[]> findInManifest(String sha256) {
        InputStream in = resources.apply(PROPERTIES_RESOURCE);
        if (in == null) {
            return Optional.empty();
        }
        Properties properties = new Properties();
        try (in) {
            properties.load(new InputStreamReader(in, StandardCharsets.UTF_8));
            Manifest manifest = Manifest.parse(properties);
            for (String variant : manifest.variantsFor(platform.triple())) {
                if (sha256.equals(manifest.sha256(platform.triple(), variant))) {
                    return Optional.of(new String[] {variant, manifest.zigVersion()});
                }
            }
        } catch (IOException | NativeLoadException | Rejected e) {
            LOG.debug("Ignoring unreadable {} while naming an explicit library: {}", PROPERTIES_RESOURCE, e.toString());
        }
        return Optional.empty();
    }

    // ------------------------------------------------------------------------------------------------- shared

    /**
     * Hands the file to the system loader, then asks the library who it is. Once {@code System.load} has succeeded
     * the library is bound to this class loader for good, so later problems are fatal: trying another file would
     * not replace the first.
     */
    private LoadedLibrary loadAndProbe(Path file, String sha256, String variant, String zigVersion, String source,
                                       String candidate) throws Rejected {
        try {
            systemLoader.accept(file);
        } catch (UnsatisfiedLinkError e) {
            String hint = LoadedLibrary.SOURCE_JAR.equals(source)
                    ? " (if " + extractRootName() + " is mounted noexec, set " + EXTRACT_DIR_PROPERTY
                    + " to a directory that allows executables)"
                    : "";
            throw Rejected.skip(candidate, "System.load failed: " + e.getMessage() + hint, e);
        }
        int abiVersion;
        int compiledFeatures;
        try {
            abiVersion = probe.abiVersion();
            compiledFeatures = probe.compiledFeatures();
        } catch (UnsatisfiedLinkError e) {
            throw Rejected.fatal(candidate, "loaded, but it does not provide the engram JNI functions ("
                    + e.getMessage() + ")", e);
        }
        if (abiVersion != ZigNative.ABI_VERSION) {
            throw Rejected.fatal(candidate, "library ABI " + abiVersion + ", Java expects " + ZigNative.ABI_VERSION
                    + "; the library and the Java classes come from different builds", null);
        }
        return new LoadedLibrary(file, sha256, platform.triple(), variant, zigVersion, abiVersion, compiledFeatures,
                source);
    }

    private static String hashOrReject(Path file, String candidate) throws Rejected {
        try {
            return sha256(file);
        } catch (IOException e) {
            throw Rejected.skip(candidate, "cannot read it back to verify its checksum (" + e + ")", e);
        }
    }

    /** SHA-256 of a file's bytes as they are on disk now, lower-case hex. */
    static String sha256(Path file) throws IOException {
        MessageDigest digest = newSha256();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buffer = new byte[64 * 1024];
            for (int read = in.read(buffer); read >= 0; read = in.read(buffer)) {
                digest.update(buffer, 0, read);
            }
        }
        String hex = HexFormat.of().formatHex(digest.digest());
        assert SHA256_HEX.matcher(hex).matches() : hex;
        return hex;
    }

    static String sha256(byte[] bytes) {
        return HexFormat.of().formatHex(newSha256().digest(bytes));
    }

    private static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform must provide SHA-256", e);
        }
    }

    /** A candidate that was not loaded. Fatal ones stop the search; the others let the next variant be tried. */
    private static final class Rejected extends Exception {
        private static final long serialVersionUID = 1L;

        final String reason;
        final String attempt;
        final boolean fatal;

        private Rejected(String candidate, String reason, boolean fatal, Throwable cause) {
            super(candidate + ": " + reason, cause, false, false); // control flow only: no stack trace needed
            this.reason = reason;
            this.attempt = candidate + ": " + reason;
            this.fatal = fatal;
        }

        static Rejected skip(String candidate, String reason, Throwable cause) {
            return new Rejected(candidate, reason, false, cause);
        }

        static Rejected fatal(String candidate, String reason, Throwable cause) {
            return new Rejected(candidate, reason, true, cause);
        }
    }

    /** {@code lib/engram-native.properties}, written by native/build.sh. */
    private record Manifest(String zigVersion, int abiVersion, List<String> libraries, Properties properties) {
        static Manifest parse(Properties properties) {
            String abi = properties.getProperty("abi.version", "").trim();
            int abiVersion;
            try {
                abiVersion = Integer.parseInt(abi);
            } catch (NumberFormatException e) {
                throw new NativeLoadException(PROPERTIES_RESOURCE + " has no valid abi.version ('" + abi + "')",
                        List.of(), e);
            }
            String zigVersion = properties.getProperty("zig.version", LoadedLibrary.UNKNOWN_ZIG_VERSION).trim();
            List<String> libraries = Arrays.stream(properties.getProperty("libraries", "").split(","))
                    .map(String::trim)
                    .filter(entry -> !entry.isEmpty())
                    .toList();
            return new Manifest(zigVersion, abiVersion, libraries, properties);
        }

        /** Variants listed for the triple, in the manifest's order; entries with odd names are ignored. */
        List<String> variantsFor(String triple) {
            String prefix = triple + "/";
            return libraries.stream()
                    .filter(entry -> entry.startsWith(prefix))
                    .map(entry -> entry.substring(prefix.length()))
                    .filter(variant -> PLAIN_NAME.matcher(variant).matches())
                    .toList();
        }

        String fileName(String triple, String variant) throws Rejected {
            String name = required(triple, variant, "file");
            if (!PLAIN_NAME.matcher(name).matches()) {
                throw Rejected.fatal(PROPERTIES_RESOURCE, triple + "/" + variant + ".file='" + name
                        + "' is not a plain file name", null);
            }
            return name;
        }

        String sha256(String triple, String variant) throws Rejected {
            String hash = required(triple, variant, "sha256").toLowerCase(Locale.ROOT);
            if (!SHA256_HEX.matcher(hash).matches()) {
                throw Rejected.fatal(PROPERTIES_RESOURCE, triple + "/" + variant + ".sha256='" + hash
                        + "' is not a SHA-256 (64 hex digits)", null);
            }
            return hash;
        }

        private String required(String triple, String variant, String key) throws Rejected {
            String fullKey = triple + "/" + variant + "." + key;
            String value = properties.getProperty(fullKey);
            if (value == null || value.isBlank()) {
                throw Rejected.fatal(PROPERTIES_RESOURCE, "lists " + triple + "/" + variant + " but has no "
                        + fullKey, null);
            }
            return value.trim();
        }
    }

    /** The arguments of {@link #loadDefault}, normalised so that equal requests compare equal. */
    record Request(Optional<Path> explicitPath, Optional<String> forcedVariant) {
        static Request of(Optional<Path> explicitPath, Optional<String> forcedVariant) {
            Objects.requireNonNull(explicitPath, "explicitPath");
            Objects.requireNonNull(forcedVariant, "forcedVariant");
            return new Request(explicitPath.map(path -> path.toAbsolutePath().normalize()),
                    forcedVariant.map(String::trim).filter(variant -> !variant.isEmpty()));
        }

        String describe() {
            return explicitPath.map(path -> "explicit path " + path)
                    .orElseGet(() -> "the jar's library, " + forcedVariant.map(v -> "forced variant " + v)
                            .orElse("best variant for this CPU"));
        }
    }

    /**
     * Remembers the first request and its outcome. A failure is kept too, so that {@code auto} mode falls back to
     * Java once per JVM instead of re-extracting and re-logging in every subtask.
     */
    static final class LoadOnce {
        private Request first;
        private LoadedLibrary library;
        private RuntimeException failure;

        synchronized LoadedLibrary get(Request request, Function<Request, LoadedLibrary> loader) {
            if (first == null) {
                first = request;
                attempt(request, loader);
            } else if (!first.equals(request)) {
                throw new IllegalStateException("the engram native library was already "
                        + (library != null ? "loaded" : "requested, unsuccessfully,") + " in this JVM for "
                        + first.describe() + "; it cannot now be loaded for " + request.describe()
                        + ": a JVM binds JNI methods only once (restart the process to change "
                        + LIBRARY_PATH_PROPERTY + " or " + VARIANT_PROPERTY + ")");
            }
            if (failure != null) {
                throw failure;
            }
            assert library != null;
            return library;
        }

        synchronized Optional<LoadedLibrary> loaded() {
            return Optional.ofNullable(library);
        }

        private void attempt(Request request, Function<Request, LoadedLibrary> loader) {
            try {
                library = Objects.requireNonNull(loader.apply(request), "the loader returned no library");
            } catch (RuntimeException e) {
                failure = e;
            } catch (Error e) {
                // Let the Error surface now, but give later callers a normal failure to act on.
                failure = new NativeLoadException("loading the engram native library failed with " + e, List.of(), e);
                throw e;
            }
        }
    }
}
