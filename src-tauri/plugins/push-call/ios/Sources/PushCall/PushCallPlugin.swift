// Ringing this iPhone for calls (issue 26): PushKit VoIP pushes from the server's push gateway
// (docs/operations.md "Push gateway": body {"p2pchat": <push payload>}), every one reported to CallKit as
// Apple requires. What a push means is decided by the app's Rust library (src/payload.rs through
// src/ffi.rs): a call rings on the CallKit screen; a missed or malformed push is reported and ended at
// once. Answer keeps the call for the window (takeAnswer; ui/src/lib/push/mobile.ts), Decline posts the
// push's one-time token to the server's /push/decline.

import CallKit
import Foundation
import PushCallFFI
import PushKit
import Tauri
import UIKit
import WebKit

struct SubscribeArgs: Decodable {
  /// The server's VAPID key: unused here (APNs goes through the gateway), sent for the same shape as Android.
  let vapidKey: String
  /// Where this room's server takes declines.
  let declineUrl: String
  let room: String
}

/// Rust's answer for a push (src/payload.rs `Decision`).
struct Decision: Decodable {
  let action: String
  let room: String?
  let call: String?
  let caller: String?
  let caller_peer: String?
  let video: Bool?
  let ring_ms: UInt64?
  let decline_body: String?
  let uuid: String?
  let reason: String?

  static func ignored(_ reason: String) -> Decision {
    Decision(
      action: "ignore", room: nil, call: nil, caller: nil, caller_peer: nil, video: nil, ring_ms: nil,
      decline_body: nil, uuid: nil, reason: reason)
  }
}

class PushCallPlugin: Plugin, PKPushRegistryDelegate, CXProviderDelegate {
  /// How long subscribe waits for PushKit's token.
  private static let tokenWaitSeconds = 30.0
  /// An answer older than this is stale (the call waited 45 s at most).
  private static let answerValidSeconds = 120.0

  private let provider: CXProvider
  private let registry = PKPushRegistry(queue: .main)
  private var token: String?
  private var waiting: [Invoke] = []
  /// Calls ringing on the CallKit screen, by their UUID.
  private var ringing: [UUID: Decision] = [:]
  /// The call answered from CallKit, until the window takes it.
  private var answered: (uuid: UUID, call: Decision, at: Date)?

  override init() {
    let configuration = CXProviderConfiguration()
    configuration.supportsVideo = true
    configuration.maximumCallGroups = 1
    configuration.maximumCallsPerCallGroup = 1
    configuration.supportedHandleTypes = [.generic]
    configuration.includesCallsInRecents = true
    provider = CXProvider(configuration: configuration)
    super.init()
    provider.setDelegate(self, queue: nil)
    // At once: a VoIP push that woke the app is delivered as soon as a delegate is set.
    registry.delegate = self
    registry.desiredPushTypes = [.voIP]
  }

  // MARK: Commands for the window

  @objc func subscribe(_ invoke: Invoke) throws {
    let args = try invoke.parseArgs(SubscribeArgs.self)
    UserDefaults.standard.set(args.declineUrl, forKey: Self.declineKey(args.room))
    if token != nil {
      resolveToken(invoke)
      return
    }
    waiting.append(invoke)
    DispatchQueue.main.asyncAfter(deadline: .now() + Self.tokenWaitSeconds) { [weak self] in
      guard let self = self, let index = self.waiting.firstIndex(where: { $0 === invoke }) else { return }
      self.waiting.remove(at: index)
      invoke.reject("iOS gave no VoIP push token (no network, or a build without push notifications).")
    }
  }

  /// "Forget this device": the kept decline addresses go. The VoIP token itself stays (iOS gives one per
  /// app); a server forgets it when told (push-unregister) or after 30 days.
  @objc func unsubscribe(_ invoke: Invoke) {
    let defaults = UserDefaults.standard
    for key in defaults.dictionaryRepresentation().keys where key.hasPrefix(Self.declinePrefix) {
      defaults.removeObject(forKey: key)
    }
    invoke.resolve()
  }

  @objc func takeAnswer(_ invoke: Invoke) {
    guard let answered = answered else {
      invoke.resolve()
      return
    }
    self.answered = nil
    // The call goes on in the window (its own WebRTC and audio): CallKit's part is over.
    provider.reportCall(with: answered.uuid, endedAt: nil, reason: .answeredElsewhere)
    guard Date().timeIntervalSince(answered.at) < Self.answerValidSeconds,
      let room = answered.call.room, let call = answered.call.call, let from = answered.call.caller_peer
    else {
      invoke.resolve()
      return
    }
    invoke.resolve(["room": room, "call": call, "from": from])
  }

  private func resolveToken(_ invoke: Invoke) {
    guard let token = token else { return }
    invoke.resolve(["subscription": ["kind": "gateway", "platform": "apns-voip", "token": token]])
  }

  // MARK: PushKit

  func pushRegistry(
    _ registry: PKPushRegistry, didUpdate pushCredentials: PKPushCredentials, for type: PKPushType
  ) {
    token = pushCredentials.token.map { String(format: "%02x", $0) }.joined()
    let waiting = self.waiting
    self.waiting = []
    waiting.forEach(resolveToken)
  }

  func pushRegistry(_ registry: PKPushRegistry, didInvalidatePushTokenFor type: PKPushType) {
    token = nil
  }

  func pushRegistry(
    _ registry: PKPushRegistry, didReceiveIncomingPushWith payload: PKPushPayload,
    for type: PKPushType, completion: @escaping () -> Void
  ) {
    let decision = Self.decide(payload.dictionaryPayload["p2pchat"])
    let uuid = decision.uuid.flatMap(UUID.init(uuidString:)) ?? UUID()
    let update = CXCallUpdate()
    let caller = decision.caller ?? "p2pchat"
    update.remoteHandle = CXHandle(type: .generic, value: caller)
    update.localizedCallerName = caller
    update.hasVideo = decision.video ?? false
    update.supportsHolding = false
    update.supportsGrouping = false
    update.supportsUngrouping = false
    update.supportsDTMF = false
    // Apple ends VoIP delivery to an app that does not report a call for every push: a missed or
    // malformed one is reported too, and ended at once (an already ringing call of the same UUID makes
    // the report fail; it is ended all the same).
    provider.reportNewIncomingCall(with: uuid, update: update) { [weak self] error in
      guard let self = self else {
        completion()
        return
      }
      if decision.action == "ring" && error == nil {
        self.ringing[uuid] = decision
        let seconds = Double(decision.ring_ms ?? 0) / 1000
        DispatchQueue.main.asyncAfter(deadline: .now() + seconds) {
          if self.ringing.removeValue(forKey: uuid) != nil {
            self.provider.reportCall(with: uuid, endedAt: nil, reason: .unanswered)
          }
        }
      } else if decision.action != "ring" {
        self.ringing.removeValue(forKey: uuid)
        self.provider.reportCall(
          with: uuid, endedAt: nil, reason: decision.action == "missed" ? .remoteEnded : .failed)
      }
      completion()
    }
  }

  /// Rust's decision on the payload; malformed input is an ignored push.
  private static func decide(_ payload: Any?) -> Decision {
    guard let payload = payload, JSONSerialization.isValidJSONObject(payload),
      let data = try? JSONSerialization.data(withJSONObject: payload),
      let text = String(data: data, encoding: .utf8)
    else { return .ignored("no p2pchat payload") }
    let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
    guard let answer = text.withCString({ p2pchat_push_decide($0, nowMs) }) else {
      return .ignored("undecidable payload")
    }
    defer { p2pchat_push_free(answer) }
    guard let decision = try? JSONDecoder().decode(Decision.self, from: Data(String(cString: answer).utf8))
    else { return .ignored("unreadable decision") }
    return decision
  }

  // MARK: CallKit

  func providerDidReset(_ provider: CXProvider) {
    ringing.removeAll()
  }

  func provider(_ provider: CXProvider, perform action: CXAnswerCallAction) {
    guard let call = ringing.removeValue(forKey: action.callUUID) else {
      action.fail()
      return
    }
    // The window takes it when it starts or comes to the front, or now if it listens (App.svelte).
    answered = (action.callUUID, call, Date())
    action.fulfill()
    trigger("answer", data: [:])
  }

  func provider(_ provider: CXProvider, perform action: CXEndCallAction) {
    if let call = ringing.removeValue(forKey: action.callUUID), let room = call.room,
      let body = call.decline_body,
      let url = UserDefaults.standard.string(forKey: Self.declineKey(room)).flatMap(URL.init(string:))
    {
      Self.decline(url, body)
    }
    action.fulfill()
  }

  private static let declinePrefix = "p2pchat.push-call.decline."
  private static func declineKey(_ room: String) -> String { declinePrefix + room }

  /// `POST /push/decline` with the push's one-time token (204, or 404 when the call is already over).
  private static func decline(_ url: URL, _ body: String) {
    var request = URLRequest(url: url, timeoutInterval: 10)
    request.httpMethod = "POST"
    request.setValue("text/plain;charset=UTF-8", forHTTPHeaderField: "Content-Type")
    request.httpBody = Data(body.utf8)
    URLSession.shared.dataTask(with: request).resume()
  }
}

@_cdecl("init_plugin_push_call")
public func initPlugin() -> Plugin {
  return PushCallPlugin()
}
